package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/tasks"
)

// loadFrom and loadTo bound the window of every load task: 30 daily bars.
var (
	loadFrom = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	loadTo   = time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)
)

// publishLoad publishes n tasks (symbols prefix000...) one by one, every
// `every`, while faults happen. Each publish is confirmed and retried with the
// same message id until acknowledged (or the deadline passes, which fails
// the test), so every task in the result was accepted by JetStream exactly
// once. It runs in the background; wait for the result on the channel.
func publishLoad(t *testing.T, js jetstream.JetStream, prefix string, n int, every time.Duration) <-chan []spec {
	t.Helper()
	out := make(chan []spec, 1)
	p := queue.NewPublisher(js, "")
	go func() {
		var specs []spec
		deadline := time.Now().Add(2 * time.Minute)
		for i := 0; i < n; i++ {
			sym := fmt.Sprintf("%s%03d", prefix, i)
			task := tasks.NewCollect(sym, market.Interval1d, loadFrom, loadTo, "load", time.Now())
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_, err := p.Publish(ctx, []tasks.Task{task})
				cancel()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("publish %s: still failing after 2 minutes: %v", sym, err)
					out <- specs
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			specs = append(specs, spec{symbol: sym, from: loadFrom, to: loadTo})
			time.Sleep(every)
		}
		out <- specs
	}()
	return out
}
