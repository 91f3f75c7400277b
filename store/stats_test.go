package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/store"
)

func TestTaskCountsAddSumsAndAddsToRows(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	m := time.Date(2025, 3, 4, 10, 20, 0, 0, time.UTC)
	// Same key twice in one batch (different seconds of the same minute),
	// and again in a second call: all of it adds up in one row.
	first := []store.TaskCount{
		{Worker: "w1", Minute: m.Add(5 * time.Second), Kind: "collect", OK: 3, Retried: 1},
		{Worker: "w1", Minute: m.Add(59 * time.Second), Kind: "collect", OK: 2, DeadLettered: 1},
		{Worker: "w2", Minute: m, Kind: "collect", OK: 10},
		{Worker: "w2", Minute: m.Add(time.Minute), Kind: "features", Retried: 4},
		{Worker: "w3", Minute: m, Kind: "collect"}, // all zero: no row
	}
	if err := s.AddTaskCounts(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTaskCounts(ctx, []store.TaskCount{{Worker: "w1", Minute: m.Add(30 * time.Second), Kind: "collect", OK: 5}}); err != nil {
		t.Fatal(err)
	}
	var ok, retried, dead int64
	var minute time.Time
	if err := admin.QueryRow(ctx, `SELECT minute, ok, retried, dead_lettered FROM task_counts
		WHERE worker = 'w1' AND kind = 'collect'`).Scan(&minute, &ok, &retried, &dead); err != nil {
		t.Fatal(err)
	}
	if !minute.Equal(m) || ok != 10 || retried != 1 || dead != 1 {
		t.Fatalf("w1/collect row = %s ok %d retried %d dead %d, want %s 10 1 1", minute, ok, retried, dead, m)
	}
	var rows int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM task_counts`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Fatalf("task_counts has %d rows, want 3 (w1/collect, w2/collect, w2/features)", rows)
	}
	got, err := s.TaskCountsSince(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.TaskCount{
		"collect":  {Kind: "collect", OK: 20, Retried: 1, DeadLettered: 1},
		"features": {Kind: "features", Retried: 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("TaskCountsSince = %+v, want %+v", got, want)
	}
}

func TestTaskCountsSinceCountsMinutesAtOrAfterSince(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	m := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	var counts []store.TaskCount
	for i := range 5 { // minutes 10:00..10:04, OK = 1, 2, 4, 8, 16
		counts = append(counts, store.TaskCount{Worker: "w", Minute: m.Add(time.Duration(i) * time.Minute), Kind: "collect", OK: 1 << i})
	}
	if err := s.AddTaskCounts(ctx, counts); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		since time.Time
		ok    int64 // 0: no kind at all
	}{
		{"before every row", m.Add(-time.Hour), 31},
		{"exactly the first minute", m, 31},
		{"inside the first minute", m.Add(time.Second), 30},
		{"the last minute", m.Add(4 * time.Minute), 16},
		{"after every row", m.Add(5 * time.Minute), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.TaskCountsSince(ctx, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if tt.ok == 0 {
				if len(got) != 0 {
					t.Fatalf("TaskCountsSince = %+v, want none", got)
				}
				return
			}
			if c := got["collect"]; c.OK != tt.ok || len(got) != 1 {
				t.Fatalf("TaskCountsSince = %+v, want collect OK %d", got, tt.ok)
			}
		})
	}
}

func TestPruneTaskCountsDeletesOnlyOlderRows(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Minute)
	counts := []store.TaskCount{
		{Worker: "w", Minute: now.Add(-8 * 24 * time.Hour), Kind: "collect", OK: 100},
		{Worker: "w", Minute: now.Add(-7*24*time.Hour - time.Minute), Kind: "features", DeadLettered: 7},
		{Worker: "w", Minute: now.Add(-7 * 24 * time.Hour), Kind: "collect", OK: 1},
		{Worker: "w", Minute: now, Kind: "collect", Retried: 2},
	}
	if err := s.AddTaskCounts(ctx, counts); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneTaskCounts(ctx, now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("PruneTaskCounts deleted %d rows, want 2", n)
	}
	got, err := s.TaskCountsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.TaskCount{"collect": {Kind: "collect", OK: 1, Retried: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after prune: %+v, want %+v", got, want)
	}
	if n, err = s.PruneTaskCounts(ctx, now.Add(-7*24*time.Hour)); err != nil || n != 0 {
		t.Fatalf("second prune = %d, %v; want 0, nil", n, err)
	}
}

func TestAddTaskCountsRefusesNegativeCounts(t *testing.T) {
	s, _ := migrated(t)
	err := s.AddTaskCounts(context.Background(), []store.TaskCount{{Worker: "w", Minute: time.Now(), Kind: "collect", OK: -1}})
	if err == nil {
		t.Fatal("a negative count was stored")
	}
	if outcome.Of(err) != outcome.Data {
		t.Fatalf("negative count error %v classified %s, want data", err, outcome.Of(err))
	}
}

func TestTaskCountsNothingToAddOrRead(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	if err := s.AddTaskCounts(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.TaskCountsSince(ctx, time.Time{})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("TaskCountsSince on an empty table = %v, %v; want an empty map", got, err)
	}
}

func TestStalestSeriesOldestLastBarFirst(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	// bars(sym, n) are daily bars from 2024-01-01: the newest is day n-1.
	var in []market.Bar
	in = append(in, bars("MSFT", 10)...) // newest 2024-01-10
	in = append(in, bars("AAPL", 3)...)  // newest 2024-01-03
	in = append(in, bars("ZZZ", 3)...)   // ties with AAPL: symbol order
	in = append(in, bars("BRK-B", 20)...)
	weekly := bars("AAPL", 2) // AAPL/1wk: newest 2024-01-02, the stalest
	for i := range weekly {
		weekly[i].Interval = market.Interval1wk
	}
	in = append(in, weekly...)
	if _, err := s.WriteBars(ctx, in); err != nil {
		t.Fatal(err)
	}
	written := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	// A write to an old bar of AAPL/1d is the series' last write.
	if _, err := admin.Exec(ctx, `UPDATE bars SET updated_at = CASE WHEN ts = '2024-01-01' THEN $1::timestamptz ELSE $1::timestamptz - interval '1 day' END
		WHERE symbol = 'AAPL' AND "interval" = '1d'`, written); err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	got, err := s.StalestSeries(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.SeriesFreshness{
		{Symbol: "AAPL", Interval: market.Interval1wk, LastBar: day(2)},
		{Symbol: "AAPL", Interval: market.Interval1d, LastBar: day(3), LastWrite: written},
		{Symbol: "ZZZ", Interval: market.Interval1d, LastBar: day(3)},
		{Symbol: "MSFT", Interval: market.Interval1d, LastBar: day(10)},
	}
	if len(got) != len(want) {
		t.Fatalf("StalestSeries(4) = %+v, want %d series", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Symbol != w.Symbol || g.Interval != w.Interval || !g.LastBar.Equal(w.LastBar) {
			t.Errorf("series %d = %s/%s last bar %s, want %s/%s %s", i, g.Symbol, g.Interval, g.LastBar, w.Symbol, w.Interval, w.LastBar)
		}
		if g.LastWrite.IsZero() || !w.LastWrite.IsZero() && !g.LastWrite.Equal(w.LastWrite) {
			t.Errorf("series %d %s/%s last write %s, want %s", i, g.Symbol, g.Interval, g.LastWrite, w.LastWrite)
		}
	}
	all, err := s.StalestSeries(ctx, 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("StalestSeries(100) = %d series, %v; want all 5", len(all), err)
	}
	if none, err := s.StalestSeries(ctx, 0); err != nil || len(none) != 0 {
		t.Fatalf("StalestSeries(0) = %v, %v; want none", none, err)
	}
}

func TestStalestSeriesWithoutBars(t *testing.T) {
	s, _ := migrated(t)
	got, err := s.StalestSeries(context.Background(), 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("StalestSeries on no bars = %v, %v; want none", got, err)
	}
}
