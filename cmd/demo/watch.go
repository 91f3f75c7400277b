package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/internal/sampler"
)

// watch shows progress until the stream's backlog is empty (work-queue
// retention: a message leaves the stream when a worker acks it) and returns
// how many of the total tasks were done. Rates count from start.
func watch(ctx context.Context, stream jetstream.Stream, total int, start time.Time, s *sampler.Sampler, procs []*proc) (int, error) {
	tty := isatty.IsTerminal(os.Stdout.Fd())
	lastLine := time.Time{}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("stream info: %w", err)
		}
		remaining := int(info.State.Msgs)
		done := total - remaining
		st := s.Stats()
		line := fmt.Sprintf("progress: %d/%d tasks done, %.0f tasks/s, %d sessions held (peak %d)",
			done, total, float64(done)/time.Since(start).Seconds(), st.Last, st.Peak)
		switch {
		case tty:
			fmt.Printf("\r%-90s", line)
		case time.Since(lastLine) >= time.Second || remaining == 0:
			fmt.Println(line)
			lastLine = time.Now()
		}
		if remaining == 0 {
			if tty {
				fmt.Println()
			}
			return done, nil
		}
		if err := exited(procs); err != nil {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("backlog not empty (%d of %d left): %w", remaining, total, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// summarize prints the result and fails when a promise was broken.
func summarize(o options, symbols, tasks int, bars int64, wall time.Duration, st sampler.Stats) error {
	want := int64(symbols * o.bars)
	fmt.Printf("\nmarketfleet demo summary\n")
	fmt.Printf("  tasks done     %d\n", tasks)
	fmt.Printf("  bars stored    %d (%d symbols x %d daily bars in this run's window)\n", bars, symbols, o.bars)
	fmt.Printf("  wall time      %s (workers started to backlog empty and workers stopped)\n", wall.Round(time.Millisecond))
	fmt.Printf("  peak sessions  %d PostgreSQL sessions held by %d workers (pg_stat_activity sampled every 20ms, %d samples)\n",
		st.Peak, o.workers, st.Samples)
	var problems []string
	if st.Peak != o.workers {
		problems = append(problems, fmt.Sprintf("peak sessions %d, want exactly %d", st.Peak, o.workers))
	}
	if bars != want {
		problems = append(problems, fmt.Sprintf("%d bars stored, want %d", bars, want))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	fmt.Println("  OK: connections = workers, every bar stored")
	return nil
}
