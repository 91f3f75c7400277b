package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"marketfleet/dlq"
	"marketfleet/internal/sampler"
	"marketfleet/market"
	"marketfleet/source"
	"marketfleet/source/synthetic"
)

// spec is a task a test enqueued: a symbol's daily bars over [from, to).
type spec struct {
	symbol   string
	from, to time.Time
}

// enqueue publishes one daily task per symbol with the real producer and
// returns what it asked for.
func (e *env) enqueue(t *testing.T, from, to string, symbols ...string) []spec {
	t.Helper()
	code, out, errOut := e.runCmd(t, nil, "producer", append([]string{"enqueue", "--from", from, "--to", to}, symbols...)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d accepted", len(symbols))) {
		t.Fatalf("producer: exit %d: %s%s", code, out, errOut)
	}
	f, _ := time.Parse(time.DateOnly, from)
	tt, _ := time.Parse(time.DateOnly, to)
	specs := make([]spec, len(symbols))
	for i, s := range symbols {
		specs[i] = spec{symbol: s, from: f, to: tt}
	}
	return specs
}

// checkOpts are the less common expectations of check.
type checkOpts struct {
	poison int                                                     // dead letters that are not accepted tasks (invalid envelopes)
	bars   func(ctx context.Context, s spec) ([]market.Bar, error) // the bars a task must leave; default: the synthetic source's
}

// checkOpt sets a checkOpts field.
type checkOpt func(*checkOpts)

func withPoison(n int) checkOpt { return func(o *checkOpts) { o.poison = n } }

func withBars(f func(ctx context.Context, s spec) ([]market.Bar, error)) checkOpt {
	return func(o *checkOpts) { o.bars = f }
}

// check is the promise every fault test ends with: every accepted task is
// applied with exactly the bars its source gives (or is a dead letter, when
// dead lists it), no row is duplicated or unexpected, the dead-letter stream
// holds exactly the dead tasks (and the poison), and the sampler never saw
// more fleet sessions than workers.
func (e *env) check(t *testing.T, accepted []spec, dead []string, st sampler.Stats, workers int, opts ...checkOpt) {
	t.Helper()
	ctx := context.Background()
	src := &synthetic.Source{}
	o := checkOpts{bars: func(ctx context.Context, sp spec) ([]market.Bar, error) {
		return source.Bars(ctx, src, source.Request{Symbol: sp.symbol, Interval: market.Interval1d, From: sp.from, To: sp.to})
	}}
	for _, opt := range opts {
		opt(&o)
	}
	type key struct {
		symbol string
		ts     int64
	}
	got := map[key][5]float64{}
	rows, err := e.admin.Query(ctx, `SELECT symbol, ts, open, high, low, close, volume FROM bars`)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for rows.Next() {
		var k key
		var ts time.Time
		var v [5]float64
		var vol int64
		if err := rows.Scan(&k.symbol, &ts, &v[0], &v[1], &v[2], &v[3], &vol); err != nil {
			t.Fatal(err)
		}
		v[4] = float64(vol)
		k.ts = ts.UnixMicro()
		got[k] = v
		total++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	isDead := map[string]bool{}
	for _, s := range dead {
		isDead[s] = true
	}
	want := 0
	var missing []string
	for _, sp := range accepted {
		if isDead[sp.symbol] {
			continue
		}
		bars, err := o.bars(ctx, sp)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bars {
			want++
			v, ok := got[key{b.Symbol, b.TS.UnixMicro()}]
			if !ok || v != [5]float64{b.Open, b.High, b.Low, b.Close, float64(b.Volume)} {
				missing = append(missing, fmt.Sprintf("%s@%s", b.Symbol, b.TS.Format(time.DateOnly)))
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("accepted but not applied (or applied wrong): %d bars, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	if total != want {
		t.Errorf("bars table has %d rows, want exactly %d: duplicates or strays", total, want)
	}
	letters, err := dlq.NewAdmin(e.js(t), "").List(ctx, dlq.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	deadSeen := map[string]bool{}
	for _, l := range letters {
		deadSeen[l.Symbol] = true
	}
	for _, s := range dead {
		if !deadSeen[s] {
			t.Errorf("%s is neither applied nor a dead letter", s)
		}
	}
	if len(letters) != len(dead)+o.poison {
		t.Errorf("%d dead letters, want %d: %+v", len(letters), len(dead)+o.poison, letters)
	}
	if st.Samples < 5 || st.Peak > workers || st.Peak < 1 {
		t.Errorf("session sampler: %d samples, peak %d; want a peak between 1 and %d", st.Samples, st.Peak, workers)
	}
}

// waitLog waits until a worker's log contains s.
func (w *worker) waitLog(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(w.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("worker %s never logged %q:\n%s", w.id, s, w.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
