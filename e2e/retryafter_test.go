package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"marketfleet/internal/testenv"
	"marketfleet/outcome"
)

// A source that answers 429 with Retry-After: 999999999 (about 31 years)
// does not park the task: the delay is capped at FLEET_RETRY_MAX, each
// such answer is a failed delivery, the task is dead-lettered as exhausted
// once they are spent, and meanwhile `fleetctl status` shows it waiting
// on a delay.
func TestRetryAfterIsCappedAndShown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "999999999")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t)
	e.enqueue(t, "2020-01-01", "2020-01-04", "SLOW")
	const retryMax = 20 * time.Second
	w := e.startWorker(t, "retryafter", "FLEET_SOURCE=yahoo", "FLEET_YAHOO_URL="+srv.URL, "FLEET_MAX_DELIVER=2",
		"FLEET_RETRY_BASE=1s", "FLEET_RETRY_MAX="+retryMax.String(), "FLEET_FEATURES=false", "FLEET_AUDIT_EVERY=-1s")
	var st struct {
		Failures struct {
			Delayed *struct {
				Waiting int64 `json:"waiting"`
				Longest *struct {
					Symbol  string    `json:"symbol"`
					Class   string    `json:"class"`
					Reason  string    `json:"reason"`
					RetryAt time.Time `json:"retry_at"`
				} `json:"longest"`
			} `json:"delayed"`
		} `json:"failures"`
	}
	var sawAt time.Time
	testenv.Eventually(t, 30*time.Second, "status shows the task waiting on a delay", func() bool {
		_, out, _ := e.runCmd(t, nil, "fleetctl", "status", "--json")
		sawAt = time.Now()
		return json.Unmarshal([]byte(out), &st) == nil && st.Failures.Delayed != nil && st.Failures.Delayed.Waiting == 1
	})
	l := st.Failures.Delayed.Longest
	if l == nil || l.Symbol != "SLOW" || l.Class != string(outcome.Transient) || !strings.Contains(l.Reason, "429") ||
		l.RetryAt.After(sawAt.Add(retryMax)) {
		t.Fatalf("longest delayed task %+v (seen at %s): want SLOW, transient, a 429, retried within %s", l, sawAt, retryMax)
	}
	code, out, _ := e.runCmd(t, nil, "fleetctl", "status")
	if !strings.Contains(out, "waiting on a retry delay: 1 task, the longest until") {
		t.Errorf("status (exit %d) does not show the delayed task:\n%s", code, out)
	}
	waitDrained(t, e.js(t), 2*retryMax)
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	recs := fleetctlJSON(t, e, "dlq", "list")
	if len(recs) != 1 || recs[0].Class != outcome.Exhausted || recs[0].Delivered != 2 || !strings.Contains(recs[0].Reason, "retry after") {
		t.Fatalf("dead letters %+v, want SLOW exhausted after 2 deliveries", recs)
	}
	if !strings.Contains(w.logs.String(), `"capped_by":"FLEET_RETRY_MAX"`) {
		t.Errorf("the capped delay was not logged:\n%s", w.logs.String())
	}
}
