package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// slotHolders returns the workers whose log says they took a slot, and
// those still waiting.
func slotHolders(workers []*worker) (holders, waiting []*worker) {
	for _, w := range workers {
		if strings.Contains(w.logs.String(), "took a connection slot") {
			holders = append(holders, w)
		} else {
			waiting = append(waiting, w)
		}
	}
	return holders, waiting
}

// TestBudgetCapsTheFleetAndAWaiterTakesOver: with FLEET_MAX_SESSIONS=3, six
// workers hold at most three sessions (sampled every 20ms), the other three
// wait without connecting, and when a slot holder is SIGKILLed a waiting
// worker takes its slot within the lease TTL; the backlog drains with every
// task applied.
func TestBudgetCapsTheFleetAndAWaiterTakesOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.js(t)
	// 40 ms per fetch and batches of 5 keep the backlog busy for a while.
	specs := e.enqueue(t, "2024-01-01", "2024-02-01", symbols("B", 400)...)
	stopSampling := e.sessionSampler(t)
	const ttl = 3 * time.Second // renewals every 600 ms: a holder starved by a loaded CI run keeps its slot
	workers := make([]*worker, 6)
	for i := range workers {
		workers[i] = e.startWorker(t, fmt.Sprintf("budget-%d", i+1), "FLEET_MAX_SESSIONS=3",
			"FLEET_SLOT_TTL="+ttl.String(), "FLEET_SYNTHETIC_LATENCY=40ms", "FLEET_BATCH_SIZE=5", quickRedelivery)
	}
	deadline := time.Now().Add(30 * time.Second)
	holders, waiting := slotHolders(workers)
	for len(holders) < 3 || len(waiting) < 3 || !allLogged(waiting, "waiting for a connection slot") {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s %d workers hold a slot, want 3 holding and 3 waiting", len(holders))
		}
		time.Sleep(20 * time.Millisecond)
		holders, waiting = slotHolders(workers)
	}
	if len(holders) != 3 {
		t.Fatalf("%d workers took a slot with FLEET_MAX_SESSIONS=3", len(holders))
	}
	time.Sleep(2 * ttl) // renewals keep the three holders; no waiter gets in
	if h, _ := slotHolders(workers); len(h) != 3 {
		t.Fatalf("%d workers hold slots after %s, want still 3", len(h), 2*ttl)
	}
	for _, w := range waiting {
		logs := w.logs.String()
		if n := strings.Count(logs, "waiting for a connection slot"); n != 1 {
			t.Fatalf("worker %s logged the wait %d times, want once:\n%s", w.id, n, logs)
		}
		if strings.Contains(logs, "postgres session opened") {
			t.Fatalf("waiting worker %s opened a session:\n%s", w.id, logs)
		}
	}
	if e.barsNow(t) == 0 {
		t.Fatal("no bars written while three workers held slots")
	}
	checkFleetctlBudget(t, e)

	victim := holders[0]
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	killed := time.Now()
	deadline = killed.Add(ttl + 10*time.Second)
	var taker *worker
	for taker == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no waiting worker took the killed holder's slot within %s", time.Since(killed))
		}
		if h, _ := slotHolders(waiting); len(h) > 0 {
			taker = h[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("worker %s took the slot of SIGKILLed %s after %s (lease TTL %s)", taker.id, victim.id, took.Round(time.Millisecond), ttl)
	if took < ttl/2 {
		t.Fatalf("the slot was taken %s after the kill, before the lease could expire", took)
	}

	waitDrained(t, js, 120*time.Second)
	for _, w := range workers {
		if w == victim {
			continue
		}
		if code, _ := w.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("worker %s exit %d", w.id, code)
		}
	}
	st := stopSampling()
	e.check(t, specs, nil, st, 3)
	if st.Peak != 3 {
		t.Fatalf("peak fleet sessions %d, want exactly the budget 3", st.Peak)
	}
	t.Logf("6 workers under FLEET_MAX_SESSIONS=3: %d samples, peak %d sessions", st.Samples, st.Peak)
}

func allLogged(ws []*worker, s string) bool {
	for _, w := range ws {
		if !strings.Contains(w.logs.String(), s) {
			return false
		}
	}
	return true
}

// checkFleetctlBudget: fleetctl budget shows the live math, the three held
// slots and the three waiting replicas, as JSON and as text.
func checkFleetctlBudget(t *testing.T, e *env) {
	t.Helper()
	code, out, errOut := e.runCmd(t, []string{"FLEET_MAX_SESSIONS=3"}, "fleetctl", "budget", "--json")
	if code != 0 {
		t.Fatalf("fleetctl budget --json: exit %d: %s%s", code, out, errOut)
	}
	var r struct {
		Budget struct {
			MaxConnections int `json:"max_connections"`
			Computed       int `json:"computed"`
			Cap            int `json:"cap"`
			Slots          int `json:"slots"`
			Fleet          int `json:"fleet_sessions"`
		} `json:"budget"`
		Slots struct {
			Held    []struct{ Holder string } `json:"held"`
			Waiting []struct{ Holder string } `json:"waiting"`
		} `json:"slots"`
		SafeReplicas int `json:"safe_replicas"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("fleetctl budget --json: %v\n%s", err, out)
	}
	b := r.Budget
	if b.MaxConnections < 10 || b.Computed < 3 || b.Cap != 3 || b.Slots != 3 || r.SafeReplicas != 3 || b.Fleet < 3 {
		t.Fatalf("fleetctl budget --json = %+v", r)
	}
	if len(r.Slots.Held) != 3 || len(r.Slots.Waiting) != 3 {
		t.Fatalf("fleetctl budget: %d held, %d waiting; want 3 and 3:\n%s", len(r.Slots.Held), len(r.Slots.Waiting), out)
	}
	code, out, errOut = e.runCmd(t, []string{"FLEET_MAX_SESSIONS=3"}, "fleetctl", "budget")
	if code != 0 || !strings.Contains(out, "Largest safe replica count: 3") || !strings.Contains(out, "replicas waiting for a slot") {
		t.Fatalf("fleetctl budget: exit %d:\n%s%s", code, out, errOut)
	}
	t.Logf("fleetctl budget:\n%s", out)
}
