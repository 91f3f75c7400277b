// Package testenv gives tests the real services they need:
//
//   - NewDatabase: a fresh PostgreSQL database on the server named by
//     MARKETFLEET_TEST_DATABASE_URL (default
//     postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable);
//   - NewScratchPostgres: a private PostgreSQL cluster a test may restart
//     or crash (fast or immediate);
//   - NATS: an in-process JetStream-enabled nats-server built from the
//     github.com/nats-io/nats-server/v2 module, restartable on its store;
//   - NewNATSCluster: an in-process 3-node JetStream cluster;
//   - StartNATSProcess: a real nats-server process (BuildNATSServer) that a
//     test may SIGKILL;
//   - NewProxy: a TCP proxy that injects latency, resets and black holes;
//   - Chromium, Screenshot, DumpDOM: a headless Chromium (scripts/chromium.sh
//     installs Debian's package) that renders a page, for the audit heatmap.
//
// and the waits tests share: Eventually polls a condition (never a fixed
// sleep), Background runs a loop until the test stops it.
//
// A missing service fails the test with instructions; it never skips. `make
// test` starts PostgreSQL first (scripts/postgres.sh up) and exports the URL,
// and installs promtool and Chromium when they are missing.
package testenv
