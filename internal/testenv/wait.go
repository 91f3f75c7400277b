package testenv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond every 20 ms until it holds, failing the test with
// what if it does not within the given time.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Poll(t, within, 20*time.Millisecond, what, cond)
}

// Poll is Eventually with a pause of every between two calls of cond, for
// a cond that costs a command or a round trip.
func Poll(t testing.TB, within, every time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(every) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

// stopWithin is how long Background's stop waits for run to return.
const stopWithin = 30 * time.Second

// Background runs run in a goroutine until the returned stop is called, or
// the test ends. stop cancels run's context and returns its result, or an
// error naming what when it has not returned within 30 s; a second call
// returns the same.
func Background(t testing.TB, what string, run func(ctx context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(stopWithin):
			return fmt.Errorf("%s did not return within %s of cancellation", what, stopWithin)
		}
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}
