package worker

import (
	"sync"
	"time"

	"marketfleet/runner"
	"marketfleet/store"
)

// taskCounts accumulates what this worker did per minute and kind until
// the next flush to the task_counts table. Safe for concurrent use.
type taskCounts struct {
	worker string
	mu     sync.Mutex
	rows   map[countKey]*store.TaskCount
}

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
