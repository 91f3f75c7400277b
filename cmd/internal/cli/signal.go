package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

// ExitForced is the exit status after a second signal forced the stop.
const ExitForced = 130

// WithSignals returns a context cancelled by the first SIGINT or SIGTERM. A
// second signal exits the process at once with ExitForced. Call stop to
// release the signal handlers.
func WithSignals(ctx context.Context, log zerolog.Logger) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			log.Info().Str("signal", sig.String()).Msg("shutting down: finishing the current batch (signal again to force)")
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-ch:
			log.Warn().Str("signal", sig.String()).Msg("second signal: exiting now")
			os.Exit(ExitForced)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}
