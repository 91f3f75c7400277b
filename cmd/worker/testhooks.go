package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// envTestPause names the test-only variable that makes the worker stop once
// at a pause point, "before-commit:<duration>" (inside the batch's
// transaction, after the upsert) or "after-commit:<duration>" (committed,
// not yet acknowledged). Fault tests set it to kill or cut off a worker at
// exactly that point. It is deliberately not part of the configuration
// shown by --help.
const envTestPause = "MARKETFLEET_TEST_PAUSE"

// pause is a parsed envTestPause; nil when unset.
type pause struct {
	where string
	d     time.Duration
	once  sync.Once
	log   zerolog.Logger
}

func parsePause() (*pause, error) {
	v := os.Getenv(envTestPause)
	if v == "" {
		return nil, nil
	}
	where, ds, _ := strings.Cut(v, ":")
	d, err := time.ParseDuration(ds)
	if err != nil || d <= 0 || (where != "before-commit" && where != "after-commit") {
		return nil, fmt.Errorf("%s=%q: want before-commit:<duration> or after-commit:<duration>", envTestPause, v)
	}
	return &pause{where: where, d: d, log: zerolog.Nop()}, nil
}

// at returns the hook for point where, or nil if the pause is elsewhere.
// The hook pauses the first time only, and does not stop for a shutdown
// signal: the batch under way must be finished.
func (p *pause) at(where string) func(context.Context) {
	if p == nil || p.where != where {
		return nil
	}
	return func(context.Context) {
		p.once.Do(func() {
			p.log.Warn().Str("pause", where).Dur("for", p.d).Msg("test pause point reached")
			time.Sleep(p.d)
		})
	}
}
