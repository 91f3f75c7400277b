package rungroup_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"marketfleet/internal/rungroup"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOneStopsAllAndSaysWhich(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := rungroup.Run(context.Background(),
		rungroup.Actor{Name: "waiter", Run: func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil }},
		rungroup.Actor{Name: "http", Run: func(context.Context) error { return boom }},
	)
	if !errors.Is(err, boom) || err.Error() != "http: boom" {
		t.Fatalf("Run = %v, want http: boom", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the waiting actor was not stopped")
	}
}

func TestAllStopWithTheirContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := rungroup.Run(ctx,
		rungroup.Actor{Name: "a", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }},
		rungroup.Actor{Name: "b", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }},
	)
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}
