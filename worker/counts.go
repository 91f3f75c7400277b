package worker

import (
	"sync"
	"time"

	"marketfleet/runner"
	"marketfleet/store"
)

// taskCounts accumulates what this worker did per minute and kind, and the
// tasks it returned to the queue with a delay, until the next flush to the
// task_counts and delayed_tasks tables. Safe for concurrent use.
type taskCounts struct {
	worker  string
	mu      sync.Mutex
	rows    map[countKey]*store.TaskCount
	delayed []store.DelayedTask
}

// maxDelayed bounds the delays kept between two flushes (the newest win).
const maxDelayed = 10000

type countKey struct {
	minute time.Time
	kind   string
}

func newTaskCounts(worker string) *taskCounts {
	return &taskCounts{worker: worker, rows: map[countKey]*store.TaskCount{}}
}

func (c *taskCounts) add(kind, outcome string) {
	minute := time.Now().UTC().Truncate(time.Minute)
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rows[countKey{minute, kind}]
	if r == nil {
		r = &store.TaskCount{Worker: c.worker, Minute: minute, Kind: kind}
		c.rows[countKey{minute, kind}] = r
	}
	switch outcome {
	case runner.OutcomeOK:
		r.OK++
	case runner.OutcomeRetried:
		r.Retried++
	case runner.OutcomeDeadLettered:
		r.DeadLettered++
	}
}

// delay records a retried task's delay.
func (c *taskCounts) delay(s runner.Settlement, kind string) {
	d := store.DelayedTask{Stream: s.Stream, Seq: s.Seq, Symbol: s.Symbol, Kind: kind, Class: string(s.Class),
		Worker: c.worker, DelayedAt: time.Now().UTC(), RetryAt: s.RetryAt.UTC()}
	if s.Err != nil {
		d.Reason = s.Err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.delayed) >= maxDelayed {
		c.delayed = c.delayed[1:]
	}
	c.delayed = append(c.delayed, d)
}

// takeDelayed returns the delays not over at now and forgets them all.
func (c *taskCounts) takeDelayed(now time.Time) []store.DelayedTask {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.delayed[:0:0]
	for _, d := range c.delayed {
		if d.RetryAt.After(now) {
			out = append(out, d)
		}
	}
	c.delayed = nil
	return out
}

// giveBackDelayed re-adds delays a flush could not store.
func (c *taskCounts) giveBackDelayed(ds []store.DelayedTask) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delayed = append(ds, c.delayed...)
	if n := len(c.delayed); n > maxDelayed {
		c.delayed = c.delayed[n-maxDelayed:]
	}
}

// take returns the counts so far and forgets them.
func (c *taskCounts) take() []store.TaskCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]store.TaskCount, 0, len(c.rows))
	for _, r := range c.rows {
		out = append(out, *r)
	}
	c.rows = map[countKey]*store.TaskCount{}
	return out
}

// giveBack re-adds counts a flush could not store.
func (c *taskCounts) giveBack(rows []store.TaskCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rows {
		k := countKey{r.Minute, r.Kind}
		if cur := c.rows[k]; cur != nil {
			cur.OK, cur.Retried, cur.DeadLettered = cur.OK+r.OK, cur.Retried+r.Retried, cur.DeadLettered+r.DeadLettered
			continue
		}
		r := r
		c.rows[k] = &r
	}
}
