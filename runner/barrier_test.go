package runner_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/dlq"
	"marketfleet/internal/testenv"
	"marketfleet/kinds"
	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/runner"
	"marketfleet/store"
	"marketfleet/tasks"
)

// batches records what the Observer is told.
type batches struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batches) TaskSettled(runner.Settlement) {}
func (b *batches) BatchDone(s runner.BatchStats) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, s.Tasks)
}

func (b *batches) all() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.sizes...)
}

// TestPanicInTheSourceFailsThatTaskAlone: the source panics while it
// handles one symbol of a batch of 20. That task is dead-lettered once as
// class panic, with the stack in the dead letter and in the log; the other
// 19 are stored and acknowledged in the same batch; nothing is redelivered;
// the worker goes on taking work.
func TestPanicInTheSourceFailsThatTaskAlone(t *testing.T) {
	b := setup(t)
	b.size, b.linger = 20, time.Second // all 20 in one batch
	b.src.hook = func(symbol string) {
		if symbol == "BOOM" {
			panic("index out of range [3] with length 3 (injected)")
		}
	}
	symbols := []string{"BOOM"}
	for i := range 19 {
		symbols = append(symbols, fmt.Sprintf("OK%02d", i))
	}
	b.publish(t, symbols...)
	obs := &batches{}
	var logs testenv.Buffer
	stop := b.start(t, runner.Config{Observer: obs, Logger: zerolog.New(&logs)})
	b.waitEmpty(t, 20*time.Second)

	if sizes := obs.all(); len(sizes) == 0 || sizes[0] != 20 {
		t.Fatalf("batches %v: want the 20 tasks in one batch, the fault inside it", sizes)
	}
	for _, s := range symbols[1:] {
		if n := b.barsOf(t, s); n != 30 {
			t.Errorf("%s has %d bars, want 30: the panic hurt its batch", s, n)
		}
	}
	if n := b.barsOf(t, "BOOM"); n != 0 {
		t.Errorf("BOOM has %d bars, want 0", n)
	}
	if n := len(b.src.callTimes("BOOM")); n != 1 {
		t.Errorf("BOOM fetched %d times, want 1: a panic is permanent, not retried", n)
	}
	letters, err := b.dead.List(context.Background(), dlq.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	l := letters[0]
	if l.Class != outcome.Panic || l.Symbol != "BOOM" || l.Delivered != 1 || !strings.Contains(l.Reason, "panic: index out of range") {
		t.Errorf("dead letter = class %q symbol %q delivered %d reason %q; want class panic for BOOM after one delivery",
			l.Class, l.Symbol, l.Delivered, l.Reason)
	}
	if !strings.Contains(l.Stack, "goroutine ") || !strings.Contains(l.Stack, "runner_test.TestPanicInTheSourceFailsThatTaskAlone") {
		t.Errorf("dead letter stack does not show where the panic happened:\n%s", l.Stack)
	}
	if !strings.Contains(logs.String(), `"class":"panic"`) || !strings.Contains(logs.String(), `"stack":"goroutine `) {
		t.Errorf("no log line with the panic's class and stack:\n%s", logs.String())
	}
	info, err := b.cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 || info.NumAckPending != 0 {
		t.Fatalf("consumer: %d redelivered, %d ack pending; want 0 and 0", info.NumRedelivered, info.NumAckPending)
	}
	// The worker is alive: the next task is applied by the same Run.
	b.publish(t, "AFTER")
	b.waitEmpty(t, 20*time.Second)
	if n := b.barsOf(t, "AFTER"); n != 30 {
		t.Fatalf("AFTER has %d bars: the worker stopped working after the panic", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

// probe is a test kind that writes one bar per task and panics, in Prepare
// or in Write, for the symbols it is told to: adding a kind is a handler
// and a registration, and a panic in a batch-wide phase still fails only
// the task it belongs to.
type probe struct {
	runner.Defaults[struct{}]
	panicIn map[string]string // symbol -> "prepare" or "write"
}

func (probe) Kind() tasks.Kind { return "probe" }

func (p probe) Prepare(_ context.Context, _ store.Reader, jobs []*runner.Job[struct{}]) error {
	for _, j := range jobs {
		if p.panicIn[j.Task.Symbol] == "prepare" {
			panic("prepare " + j.Task.Symbol)
		}
	}
	return nil
}

func (p probe) Write(ctx context.Context, tx *store.Tx, jobs []*runner.Job[struct{}]) error {
	var bars []market.Bar
	for _, j := range jobs {
		if p.panicIn[j.Task.Symbol] == "write" {
			panic("write " + j.Task.Symbol)
		}
		bars = append(bars, market.Bar{Symbol: j.Task.Symbol, Interval: j.Task.Interval, TS: j.Task.From,
			Open: 1, High: 1, Low: 1, Close: 1, Source: "probe"})
	}
	_, err := tx.WriteBars(ctx, bars)
	return err
}

func TestPanicInABatchWidePhaseFailsOnlyItsTask(t *testing.T) {
	b := setup(t)
	b.size, b.linger = 20, time.Second
	reg := runner.NewRegistry()
	runner.Register(reg, kinds.Collect{Config: kinds.Config{Source: b.src}})
	runner.Register(reg, probe{panicIn: map[string]string{"PBOOM": "prepare", "WBOOM": "write"}})
	now := time.Now()
	var ts []tasks.Task
	for _, s := range []string{"P1", "PBOOM", "P2", "WBOOM", "P3"} {
		pt := tasks.NewCollect(s, market.Interval1d, day0, day0.AddDate(0, 0, 1), "runner-test", now)
		pt.Kind = "probe"
		ts = append(ts, pt, tasks.NewCollect("C"+s, market.Interval1d, day0, day0.AddDate(0, 0, 30), "runner-test", now))
	}
	// A well-formed task of a kind this worker has no handler for.
	unknown := tasks.NewCollect("ODD", market.Interval1d, day0, day0.AddDate(0, 0, 1), "runner-test", now)
	unknown.Kind = "delete"
	b.publishTasks(t, append(ts, unknown)...)
	stop := b.start(t, runner.Config{Kinds: reg})
	b.waitEmpty(t, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"P1", "P2", "P3"} {
		if n := b.barsOf(t, s); n != 1 {
			t.Errorf("probe %s has %d bars, want 1", s, n)
		}
	}
	for _, s := range []string{"CP1", "CPBOOM", "CP2", "CWBOOM", "CP3"} {
		if n := b.barsOf(t, s); n != 30 {
			t.Errorf("collect %s has %d bars, want 30", s, n)
		}
	}
	letters, err := b.dead.List(context.Background(), dlq.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]dlq.Record{}
	for _, l := range letters {
		got[l.Symbol] = l
	}
	if len(letters) != 3 {
		t.Fatalf("dead letters %+v, want PBOOM, WBOOM and ODD", letters)
	}
	for sym, phase := range map[string]string{"PBOOM": "prepare", "WBOOM": "write"} {
		if l := got[sym]; l.Class != outcome.Panic || !strings.Contains(l.Reason, "panic: "+phase+" "+sym) || l.Stack == "" {
			t.Errorf("%s: dead letter class %q reason %q (stack %d bytes), want a panic in %s", sym, l.Class, l.Reason, len(l.Stack), phase)
		}
	}
	if l := got["ODD"]; l.Class != outcome.Invalid || !strings.Contains(l.Reason, `kind "delete"`) || l.Kind != "delete" {
		t.Errorf("unknown kind: dead letter class %q kind %q reason %q, want invalid naming the kind", l.Class, l.Kind, l.Reason)
	}
}
