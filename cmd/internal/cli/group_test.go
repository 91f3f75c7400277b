package cli

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunAllStopsEveryActorWhenOneStops(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := RunAll(context.Background(),
		func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil },
		func(ctx context.Context) error { time.Sleep(10 * time.Millisecond); return boom },
	)
	if !errors.Is(err, boom) {
		t.Fatalf("RunAll = %v, want boom", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the waiting actor was not stopped")
	}
}
