package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/runner"
)

// PausePoint returns the fault points spec asks for: "before-commit:<d>"
// (inside a batch's transaction, after its writes) or "after-commit:<d>"
// (committed, not yet acknowledged) pauses the worker there for d, once,
// without stopping for a shutdown signal: fault tests kill or cut off a
// worker at exactly that point. An empty spec asks for none. The error
// quotes spec. cmd/worker reads spec from MARKETFLEET_TEST_PAUSE, which
// its --help does not show.
func PausePoint(spec string, log zerolog.Logger) (runner.Faults, error) {
	if spec == "" {
		return runner.Faults{}, nil
	}
	where, ds, _ := strings.Cut(spec, ":")
	d, err := time.ParseDuration(ds)
	if err != nil || d <= 0 || (where != "before-commit" && where != "after-commit") {
		return runner.Faults{}, fmt.Errorf("%q: want before-commit:<duration> or after-commit:<duration>", spec)
	}
	var once sync.Once
	pause := func(context.Context) {
		once.Do(func() {
			log.Warn().Str("pause", where).Stringer("for", d).Msg("test pause point reached")
			time.Sleep(d)
		})
	}
	if where == "before-commit" {
		return runner.Faults{BeforeCommit: pause}, nil
	}
	return runner.Faults{AfterCommit: pause}, nil
}
