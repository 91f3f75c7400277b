package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

// WithSignals returns a context cancelled by the first SIGINT or SIGTERM.
// A second signal forces the stop: the handlers are removed and the signal
// is sent again, so the process dies of it at once (a shell reports 130
// for SIGINT, 143 for SIGTERM), whatever it was finishing. Call stop to
// release the handlers.
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
			log.Warn().Str("signal", sig.String()).Msg("second signal: stopping now")
			signal.Reset(syscall.SIGINT, syscall.SIGTERM)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}
