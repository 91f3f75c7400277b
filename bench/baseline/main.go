package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

func main() {
	log := zerolog.New(os.Stderr).With().Timestamp().Str("component", "baseline").Logger()
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(2)
	}
	ctx, stop := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		log.Info().Msg("stopping: finishing the tasks in flight")
		stop()
		<-sigs
		log.Warn().Msg("second signal: exiting now")
		os.Exit(2)
	}()
	if err := run(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg("baseline failed")
		os.Exit(1)
	}
}
