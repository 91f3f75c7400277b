// Package testenv gives tests the real services they need: a fresh
// PostgreSQL database on the server named by MARKETFLEET_TEST_DATABASE_URL
// (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), and
// an in-process JetStream-enabled nats-server built from the
// github.com/nats-io/nats-server/v2 module.
//
// A missing service fails the test with instructions; it never skips. `make
// test` starts PostgreSQL first (scripts/postgres.sh up) and exports the URL.
package testenv
