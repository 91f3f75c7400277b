package rungroup

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Actor is one long-running part of a process.
type Actor struct {
	// Name says which actor an error comes from ("metrics server"); ""
	// for the process's main actor, whose errors speak for themselves.
	Name string
	// Run runs until ctx ends or it fails; it must return soon after ctx
	// ends.
	Run func(ctx context.Context) error
}

// Run runs every actor with a context derived from ctx and returns when all
// have returned. When any returns, the context of the others is cancelled:
// one stops, all stop. The result joins the actors' errors, each prefixed
// with its actor's name (if it has one); nil when every actor returned nil.
func Run(ctx context.Context, actors ...Actor) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(actors))
	var wg sync.WaitGroup
	for i, a := range actors {
		wg.Go(func() {
			defer cancel()
			err := a.Run(ctx)
			if err != nil && a.Name != "" {
				err = fmt.Errorf("%s: %w", a.Name, err)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
