package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"marketfleet/outcome"
)

// garbageYahoo answers the chart API with a bad answer per symbol, and a
// good one for GOOD; it counts the requests per symbol.
type garbageYahoo struct {
	mu    sync.Mutex
	calls map[string]int
}

// chart is a chart body for 2020-01-02 and 2020-01-03 (New York), its
// quote columns as given.
func chart(tz, timestamps, open, high, low, close, volume string) string {
	return fmt.Sprintf(`{"chart":{"result":[{"meta":{"exchangeTimezoneName":%q,"gmtoffset":-18000},"timestamp":[%s],`+
		`"indicators":{"quote":[{"open":[%s],"high":[%s],"low":[%s],"close":[%s],"volume":[%s]}]}}],"error":null}}`,
		tz, timestamps, open, high, low, close, volume)
}

const (
	twoDays = "1577975400,1578061800"
	nyTZ    = "America/New_York"
)

var garbageBodies = map[string]string{
	"GOOD":  chart(nyTZ, twoDays, "10,11", "12,12", "9,10", "11,11.5", "100,200"),
	"NEG":   chart(nyTZ, twoDays, "10,-11", "12,12", "9,-12", "11,11.5", "100,200"),
	"HILO":  chart(nyTZ, twoDays, "10,11", "12,8", "9,10", "11,9", "100,200"),
	"HUGE":  chart(nyTZ, twoDays, "10,1e308", "12,1e308", "9,10", "11,11.5", "100,200"),
	"MISAL": chart(nyTZ, twoDays+",1578321000", "10,11", "12,12", "9,10", "11,11.5", "100,200"),
	"DUPTS": chart(nyTZ, "1577975400,1577975400", "10,11", "12,12", "9,10", "11,11.5", "100,200"),
	"FUTR":  chart(nyTZ, "1577975400,1893456000", "10,11", "12,12", "9,10", "11,11.5", "100,200"),
	"TZONE": chart("../../etc/passwd", twoDays, "10,11", "12,12", "9,10", "11,11.5", "100,200"),
	"HTML":  "<html><body>Please accept our cookies</body></html>",
	"TRUNC": `{"chart":{"result":[{"timestamp":[1577975400,157806`,
	"EMPTY": `{"chart":{"result":[{"meta":{"exchangeTimezoneName":"America/New_York"},"indicators":{"quote":[{}]}}],"error":null}}`,
}

func (g *garbageYahoo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sym := strings.TrimPrefix(r.URL.Path, "/v8/finance/chart/")
	g.mu.Lock()
	g.calls[sym]++
	g.mu.Unlock()
	_, _ = w.Write([]byte(garbageBodies[sym]))
}

func (g *garbageYahoo) count(sym string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[sym]
}

// Garbage from the source (impossible prices, misaligned or duplicated
// rows, a timestamp years ahead, a path for a time zone, bodies that never
// parse) is dead-lettered at once, class bad_data, with the offending value
// in the reason, and nothing of it is stored; an empty answer is acked,
// stores nothing, and is logged; a good answer is stored.
func TestSourceGarbageIsRefusedWhole(t *testing.T) {
	t.Parallel()
	g := &garbageYahoo{calls: map[string]int{}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	e := newEnv(t)
	reasons := map[string]string{
		"NEG":   "open -11 is not positive",
		"HILO":  "low 10 above high 8",
		"HUGE":  "open 1e+308 is not a price",
		"MISAL": "2 open values for 3 timestamps",
		"DUPTS": "appears twice",
		"FUTR":  "(2030-01-01T00:00:00Z) is after the answer",
		"TZONE": `exchange time zone "../../etc/passwd"`,
		"HTML":  "body is not a chart",
		"TRUNC": "body is not a chart",
	}
	symbols := []string{"GOOD", "EMPTY"}
	for s := range reasons {
		symbols = append(symbols, s)
	}
	e.enqueue(t, "2020-01-01", "2020-01-04", symbols...)
	w := e.startWorker(t, "garbage", "FLEET_SOURCE=yahoo", "FLEET_YAHOO_URL="+srv.URL, "FLEET_MAX_DELIVER=3",
		"FLEET_RETRY_BASE=50ms", "FLEET_RETRY_MAX=200ms", "FLEET_FEATURES=false", "FLEET_AUDIT_EVERY=-1s")
	waitDrained(t, e.js(t), 60*time.Second)
	if code, _ := w.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	recs := fleetctlJSON(t, e, "dlq", "list")
	if len(recs) != len(reasons) {
		t.Errorf("%d dead letters, want %d (one per garbage symbol)", len(recs), len(reasons))
	}
	for _, r := range recs {
		want, ok := reasons[r.Symbol]
		if !ok || r.Class != outcome.BadData || r.Delivered != 1 || !strings.Contains(r.Reason, want) {
			t.Errorf("%s: dead letter class %s after %d deliveries, reason %q; want bad_data after 1, saying %q",
				r.Symbol, r.Class, r.Delivered, r.Reason, want)
		}
	}
	// A body that never parses is asked for again by the client (3
	// attempts), not by ten deliveries.
	for _, s := range []string{"HTML", "TRUNC"} {
		if n := g.count(s); n != 3 {
			t.Errorf("%s requested %d times, want 3 (the client's attempts, one delivery)", s, n)
		}
	}
	rows, err := e.admin.Query(context.Background(), `SELECT symbol, count(*) FROM bars GROUP BY symbol`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		stored[s] = n
	}
	if len(stored) != 1 || stored["GOOD"] != 2 {
		t.Errorf("stored %v, want only GOOD's 2 bars", stored)
	}
	if !strings.Contains(w.logs.String(), `"symbol":"EMPTY"`) || !strings.Contains(w.logs.String(), "the source answered with no bars") {
		t.Errorf("the empty answer was not logged:\n%s", w.logs.String())
	}
}
