package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// natsCLI runs the stock nats CLI against the test's server.
func (e *env) natsCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "nats"), append([]string{"--server", e.natsURL, "--timeout", "10s"}, args...)...)
	cmd.Env = append(cmd.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		t.Fatalf("nats %v: %v", args, err)
	}
	return 0, out.String(), errb.String()
}

// requestReply is the part of the service's reply the tests read.
type requestReply struct {
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	Error      string `json:"error"`
	Tasks      []struct {
		Symbol, Priority, ID, Status string
	} `json:"tasks"`
}

func (e *env) request(t *testing.T, body string) requestReply {
	t.Helper()
	code, out, errOut := e.natsCLI(t, "req", "--raw", "marketfleet.request.collect", body)
	if code != 0 {
		t.Fatalf("nats req: exit %d: %s%s", code, out, errOut)
	}
	var r requestReply
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("nats req reply %q: %v", out, err)
	}
	return r
}

// TestOnDemandRequestOvertakesTheBacklog: with 10,000 scheduled tasks
// waiting, a request sent with the stock nats CLI is answered with the
// accepted task, and its bars are stored within seconds, long before the
// backlog drains. A second identical request reports a duplicate; an
// invalid one gets one clear line and a dead letter; a request without a
// reply subject (nats pub) still works.
func TestOnDemandRequestOvertakesTheBacklog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	const backlog = 10_000
	universe := writeUniverse(t, symbols("W", backlog))
	if code, out, errOut := e.runCmd(t, nil, "producer", "enqueue", "--universe", universe,
		"--from", "2024-01-01", "--to", "2024-03-01"); code != 0 || !strings.Contains(out, "10000 accepted") {
		t.Fatalf("producer: exit %d: %s%s", code, out, errOut)
	}
	for _, id := range []string{"od-1", "od-2"} {
		e.startWorker(t, id, "FLEET_FEATURES=false")
	}
	// Let the fleet get busy on the backlog first.
	time.Sleep(2 * time.Second)

	sent := time.Now()
	r := e.request(t, `{"symbols":["NOW"],"interval":"1d","range":"5d"}`)
	if r.Error != "" || r.Accepted != 1 || len(r.Tasks) != 1 || r.Tasks[0].Priority != "high" || !strings.HasPrefix(r.Tasks[0].ID, "high:collect:NOW:1d:") {
		t.Fatalf("reply %+v, want one accepted high-priority task", r)
	}
	var stored time.Duration
	for stored == 0 {
		var n int
		if err := e.admin.QueryRow(context.Background(), `SELECT count(*) FROM bars WHERE symbol = 'NOW'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		switch {
		case n > 0:
			stored = time.Since(sent)
		case time.Since(sent) > 10*time.Second:
			t.Fatal("the on-demand task was not stored within 10s")
		default:
			time.Sleep(10 * time.Millisecond)
		}
	}
	waiting := consumerInfo(t, js).NumPending
	t.Logf("on-demand request stored %s after it was sent, with %d scheduled tasks still waiting", stored.Round(time.Millisecond), waiting)
	if stored > 5*time.Second {
		t.Fatalf("stored after %s, want within seconds", stored)
	}
	if waiting < backlog/2 {
		t.Fatalf("only %d tasks were still waiting: the test did not show overtaking", waiting)
	}

	if r := e.request(t, `{"symbols":["NOW"],"interval":"1d","range":"5d"}`); r.Duplicates != 1 || r.Tasks[0].Status != "duplicate" {
		t.Fatalf("second identical request: %+v, want a duplicate", r)
	}
	if r := e.request(t, `{"symbols":["ok","B@D"],"range":"5d"}`); !strings.Contains(r.Error, "symbols") || strings.Contains(r.Error, "\n") {
		t.Fatalf("invalid request: reply %+v, want one line naming symbols", r)
	}
	recs := fleetctlJSON(t, e, "dlq", "list", "--refused", "--class", "invalid")
	if len(recs) != 1 || !strings.Contains(recs[0].Reason, "B@D") || !strings.Contains(string(recs[0].Payload), "B@D") {
		t.Fatalf("refused requests %+v, want the invalid request with its reason and payload", recs)
	}
	if tasks := fleetctlJSON(t, e, "dlq", "list"); len(tasks) != 0 {
		t.Fatalf("dead tasks %+v: a refused request went to the dead-letter stream of tasks", tasks)
	}
	if code, out, errOut := e.natsCLI(t, "pub", "marketfleet.request.collect", `{"symbols":["FIRE"],"from":"2024-01-01","to":"2024-01-10"}`); code != 0 {
		t.Fatalf("nats pub: exit %d: %s%s", code, out, errOut)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.barsOf(t, "FIRE") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a request without a reply subject was not carried out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) barsOf(t *testing.T, symbol string) int {
	t.Helper()
	var n int
	if err := e.admin.QueryRow(context.Background(), `SELECT count(*) FROM bars WHERE symbol = $1`, symbol).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
