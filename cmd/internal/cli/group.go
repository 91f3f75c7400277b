package cli

import (
	"context"
	"errors"
	"sync"
)

// RunAll runs every actor with a shared context and returns when all have
// returned. When any actor returns, the context of the others is cancelled:
// one stops, all stop. The result joins the actors' errors.
func RunAll(ctx context.Context, actors ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(actors))
	var wg sync.WaitGroup
	for i, a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			errs[i] = a(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
