package kinds

import (
	"context"
	"errors"
	"testing"
	"time"

	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/runner"
	"marketfleet/source/synthetic"
	"marketfleet/store"
	"marketfleet/tasks"
)

var day0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func collectJob(symbol string, from, to time.Time, incremental bool) *runner.Job[collecting] {
	t := tasks.NewCollect(symbol, market.Interval1d, from, to, "test", time.Now())
	t.Incremental = incremental
	return &runner.Job[collecting]{Task: t, Delivered: 1}
}

// Prepare starts an incremental task one bar before the last stored bar of
// its series (that bar may have been incomplete: one bar of overlap), leaves a non-incremental task and a series without
// bars at their From, and never starts a task before its From.
func TestCollectPrepareNarrowsIncrementalTasks(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	stored := testenv.Walk("HAVE", 10) // 2020-01-01 .. 2020-01-10
	if _, err := s.WriteBars(ctx, stored); err != nil {
		t.Fatal(err)
	}
	last := stored[9].TS
	inc := collectJob("HAVE", testenv.WalkStart, last.AddDate(0, 0, 5), true)
	plain := collectJob("HAVE", testenv.WalkStart, last.AddDate(0, 0, 5), false)
	none := collectJob("NONE", testenv.WalkStart, last, true)
	late := collectJob("HAVE", last.AddDate(0, 0, 2), last.AddDate(0, 0, 5), true)
	if err := (Collect{}).Prepare(ctx, s, []*runner.Job[collecting]{inc, plain, none, late}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		j    *runner.Job[collecting]
		want time.Time
	}{
		{"incremental", inc, stored[8].TS}, {"not incremental", plain, testenv.WalkStart},
		{"no bars stored", none, testenv.WalkStart}, {"From after the last bar", late, last.AddDate(0, 0, 2)},
	} {
		if !c.j.State.from.Equal(c.want) {
			t.Errorf("%s: fetch from %s, want %s", c.name, c.j.State.from, c.want)
		}
	}
}

// failingReader is a store.Reader whose reads fail.
type failingReader struct{ store.Reader }

func (failingReader) Tails(context.Context, []market.Series) (map[market.Series]store.Tail, error) {
	return nil, errors.New("connection reset")
}

// When the last bars cannot be read, incremental tasks fetch their whole
// window: the task is not failed for it.
func TestCollectPrepareWithoutLastBarsFetchesWholeWindows(t *testing.T) {
	j := collectJob("X", day0, day0.AddDate(0, 0, 5), true)
	if err := (Collect{}).Prepare(context.Background(), failingReader{}, []*runner.Job[collecting]{j}); err != nil || j.Err() != nil {
		t.Fatalf("Prepare = %v (job %v), want nil: the task survives", err, j.Err())
	}
	if !j.State.from.Equal(day0) {
		t.Fatalf("fetch from %s, want the window's start %s", j.State.from, day0)
	}
}

// Write records per job what the batch's one upsert changed in its series,
// and what it stored; FollowUps asks for features from the first changed
// bar on, only when bars changed (or on a redelivery), only when features
// are on, with the task's priority.
func TestCollectWriteAndFollowUps(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	c := Collect{Config{Source: &synthetic.Source{}, Features: true, RequestedBy: "worker/w1"}}
	a := collectJob("AAA", day0, day0.AddDate(0, 0, 10), false)
	a.Task.Priority = tasks.PriorityHigh
	b := collectJob("BBB", day0, day0.AddDate(0, 0, 10), false)
	run := func(jobs ...*runner.Job[collecting]) {
		t.Helper()
		for _, j := range jobs {
			j.State = collecting{from: j.Task.From}
			if err := c.Fetch(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.InTx(ctx, func(tx *store.Tx) error { return c.Write(ctx, tx, jobs) }); err != nil {
			t.Fatal(err)
		}
	}
	run(a, b)
	if rows, changed := a.Stats(); rows != 10 || changed != 10 {
		t.Fatalf("AAA stored %d bars, %d changed; want 10 and 10", rows, changed)
	}
	fu := c.FollowUps(a)
	if len(fu) != 1 || fu[0].Kind != KindFeatures || fu[0].Symbol != "AAA" || !fu[0].From.Equal(day0) ||
		!fu[0].To.Equal(day0.AddDate(0, 0, 10)) || fu[0].Priority != tasks.PriorityHigh || fu[0].RequestedBy != "worker/w1" {
		t.Fatalf("follow-ups %+v, want one high-priority features task over the 10 bars", fu)
	}
	if err := fu[0].Validate(); err != nil {
		t.Fatalf("the follow-up does not validate: %v", err)
	}

	run(b) // the same bars again: nothing changes
	if rows, changed := b.Stats(); rows != 10 || changed != 0 {
		t.Fatalf("BBB again stored %d bars, %d changed; want 10 and 0", rows, changed)
	}
	if fu := c.FollowUps(b); len(fu) != 0 {
		t.Fatalf("a write that changed nothing asks for %+v", fu)
	}
	b.Delivered = 2 // an earlier delivery may have died before its follow-up
	if fu := c.FollowUps(b); len(fu) != 1 || !fu[0].From.Equal(day0) || !fu[0].To.Equal(day0.AddDate(0, 0, 10)) {
		t.Fatalf("redelivered: follow-ups %+v, want the task's bars", fu)
	}
	c.Features = false
	if fu := c.FollowUps(a); len(fu) != 0 {
		t.Fatalf("features off: follow-ups %+v", fu)
	}
}
