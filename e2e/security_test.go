package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/testenv"
	"marketfleet/queue"
)

// Passwords of the shipped server configuration's users in these tests.
const (
	producerPassword = "producer-test-secret"
	workerPassword   = "worker-test-secret"
	adminPassword    = "admin-test-secret"
)

// shippedNATS runs an in-process nats-server from deploy/nats/nats-server.conf
// as shipped, moved to a random loopback port and a temporary store, without
// its monitoring port.
func shippedNATS(t *testing.T) string {
	t.Helper()
	// The config reads the passwords from the environment while it is
	// parsed. Set process-wide (t.Setenv forbids parallel tests): the values
	// are constants, and nothing else reads them.
	for k, v := range map[string]string{"MARKETFLEET_NATS_PRODUCER_PASSWORD": producerPassword,
		"MARKETFLEET_NATS_WORKER_PASSWORD": workerPassword, "MARKETFLEET_NATS_ADMIN_PASSWORD": adminPassword} {
		if err := os.Setenv(k, v); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile("../deploy/nats/nats-server.conf")
	if err != nil {
		t.Fatalf("the shipped nats-server.conf does not load: %v", err)
	}
	if !opts.JetStream || opts.SyncInterval <= 0 && !opts.SyncAlways {
		t.Fatalf("the shipped config must enable JetStream with sync_interval: always (jetstream %v, sync always %v)", opts.JetStream, opts.SyncAlways)
	}
	opts.HTTPPort, opts.StoreDir = 0, t.TempDir()
	return testenv.NATSWith(t, opts)
}

// connectAs connects as user to url, closed when the test ends.
func connectAs(t *testing.T, url, user, password string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.Name("marketfleet-e2e-"+user),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // refusals are what the test provokes
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// TestShippedNATSConfigLocksDownTheRoles runs the producer and a worker
// with the shipped server configuration and their own users: the work
// flows end to end, while an unauthenticated client is refused, a producer
// can neither consume nor delete, and a worker cannot delete a stream.
func TestShippedNATSConfigLocksDownTheRoles(t *testing.T) {
	t.Parallel()
	url := shippedNATS(t)
	e := newEnvWith(t, url, testenv.NewDatabase(t), nil)
	e.natsAuth = []nats.Option{nats.UserInfo("admin", adminPassword)}
	ctx := context.Background()

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("an unauthenticated client was let in")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("unauthenticated client: %v, want an authorization violation", err)
	}
	if nc, err := nats.Connect(url, nats.UserInfo("worker", "wrong")); err == nil {
		nc.Close()
		t.Fatal("a wrong password was let in")
	}

	asProducer := []string{"FLEET_NATS_USER=producer", "FLEET_NATS_PASSWORD=" + producerPassword}
	asWorker := []string{"FLEET_NATS_USER=worker", "FLEET_NATS_PASSWORD=" + workerPassword}
	syms := symbols("SEC", 8)
	code, out, errOut := e.runCmd(t, asProducer, "producer", append([]string{"enqueue", "--from", "2024-01-01", "--to", "2024-01-31"}, syms...)...)
	if code != 0 || !strings.Contains(out, "8 accepted") {
		t.Fatalf("producer as producer: exit %d: %s%s", code, out, errOut)
	}
	specs := make([]spec, len(syms), len(syms)+1)
	for i, sym := range syms {
		specs[i] = spec{symbol: sym, from: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)}
	}
	_, admin := connectAs(t, url, "admin", adminPassword)
	// A poison envelope exercises the dead-letter path; a source rate, the
	// rate limiter's bucket.
	if _, err := admin.Publish(ctx, queue.SubjectPrefix+".collect", []byte(`{not json`)); err != nil {
		t.Fatal(err)
	}
	stopSampling := e.sessionSampler(t)
	w := e.startWorker(t, "secure", append(asWorker, "FLEET_SOURCE_RATE=1000")...)
	waitDrained(t, admin, 60*time.Second)

	// An on-demand request from the producer's user is answered by the
	// worker on the reply subject.
	pnc, _ := connectAs(t, url, "producer", producerPassword)
	reply, err := pnc.Request("marketfleet.request.collect", []byte(`{"symbols":["SECREQ"],"from":"2024-01-01","to":"2024-01-10"}`), 10*time.Second)
	if err != nil || !strings.Contains(string(reply.Data), "accepted") {
		t.Fatalf("on-demand request as producer: %v %q", err, replyData(reply))
	}
	specs = append(specs, spec{symbol: "SECREQ", from: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC)})
	waitDrained(t, admin, 60*time.Second)

	// The worker's follow-ups and its dead-letter path are allowed too:
	// features tasks were enqueued and drained; nothing was refused.
	if strings.Contains(strings.ToLower(w.logs.String()), "permission") {
		t.Fatalf("the worker met a permissions violation:\n%s", w.logs.String())
	}
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	e.check(t, specs, nil, stopSampling(), 1, withPoison(1))

	// A producer may not consume, acknowledge, delete or purge: with a task
	// waiting, its pull gets nothing.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := admin.Publish(cctx, queue.SubjectPrefix+".collect", []byte(`{"waiting":"for a worker"}`)); err != nil {
		t.Fatal(err)
	}
	_, pjs := connectAs(t, url, "producer", producerPassword)
	cons, err := pjs.Consumer(cctx, queue.DefaultStream, queue.DefaultConsumer)
	if err != nil {
		t.Fatalf("a producer may read the consumer's state (backfill progress): %v", err)
	}
	if b, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second)); err == nil {
		for range b.Messages() {
			t.Fatal("a producer was handed a task")
		}
	}
	// A refused request gets no answer: each waits for its own short
	// deadline.
	refused := func() context.Context {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		t.Cleanup(cancel)
		return rctx
	}
	if err := pjs.DeleteStream(refused(), queue.DefaultStream); err == nil {
		t.Fatal("a producer deleted the task stream")
	}
	_, wjs := connectAs(t, url, "worker", workerPassword)
	if err := wjs.DeleteStream(refused(), queue.DefaultStream); err == nil {
		t.Fatal("a worker deleted the task stream")
	}
	s, err := wjs.Stream(cctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(refused()); err == nil {
		t.Fatal("a worker purged the task stream")
	}
	st, err := admin.Stream(cctx, queue.DefaultStream)
	if err != nil {
		t.Fatalf("the task stream is gone after the refused deletes: %v", err)
	}
	if info, err := st.Info(cctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("task stream after the refused pull, delete and purge: %+v, %v; want the 1 waiting task", info.State, err)
	}
}

func replyData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// TestSecretsNeverPrinted runs the worker and the producer with canary
// secrets (database and NATS passwords, a NATS token, credentials in URLs)
// against bad hosts, wrong passwords and certificates from the wrong CA:
// each says what is wrong, and no output holds a canary.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const canary = "canary-7f3a9"
	natsAuthURL := shippedNATS(t) // users with passwords
	ca, other := testenv.NewCA(t, "marketfleet-e2e-ca"), testenv.NewCA(t, "someone-else")
	tlsURL := testenv.TLSNATS(t, ca, "fleet", "not-the-canary")
	pg := testenv.NewScratchPostgres(t, testenv.ScratchTLSSettings(t, ca)...)
	e := newEnv(t)
	goodDB := e.dbURL
	cases := map[string][]string{
		"database password, unknown host": {"DATABASE_URL=postgres://fleet:" + canary + "@db.invalid:5432/x?connect_timeout=1"},
		"database password, wrong CA": {"DATABASE_URL=" + fmt.Sprintf(
			"postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=verify-full&sslrootcert=%s", canary, pg.Port, other.CertPEM)},
		"NATS password, unknown host": {"NATS_URL=nats://nats.invalid:4222", "FLEET_NATS_USER=worker", "FLEET_NATS_PASSWORD=" + canary, "DATABASE_URL=" + goodDB},
		"NATS password, refused":      {"NATS_URL=" + natsAuthURL, "FLEET_NATS_USER=worker", "FLEET_NATS_PASSWORD=" + canary, "DATABASE_URL=" + goodDB},
		"NATS token, refused":         {"NATS_URL=" + natsAuthURL, "FLEET_NATS_TOKEN=" + canary, "DATABASE_URL=" + goodDB},
		"NATS URL credentials":        {"NATS_URL=nats://worker:" + canary + "@" + strings.TrimPrefix(natsAuthURL, "nats://"), "DATABASE_URL=" + goodDB},
		"NATS password, wrong CA": {"NATS_URL=" + tlsURL, "FLEET_NATS_USER=fleet", "FLEET_NATS_PASSWORD=" + canary,
			"FLEET_NATS_CA=" + other.CertPEM, "DATABASE_URL=" + goodDB},
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			w := e.startWorker(t, "canary", env...)
			time.Sleep(1500 * time.Millisecond)
			w.stop(t, 10*time.Second)
			if logs := w.logs.String(); strings.Contains(logs, canary) || strings.TrimSpace(logs) == "" {
				t.Errorf("worker output (%d bytes) leaks the canary or says nothing:\n%s", len(logs), logs)
			}
			lines := strings.Split(strings.TrimSpace(w.logs.String()), "\n")
			t.Logf("worker says: %s", lines[len(lines)-1])
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, "producer"), "enqueue", "--range", "1mo", "AAPL")
			cmd.Env = append(e.baseEnv(), env...)
			out, _ := cmd.CombinedOutput()
			if strings.Contains(string(out), canary) {
				t.Errorf("producer output leaks the canary:\n%s", out)
			}
		})
	}
}
