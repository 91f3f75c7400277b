package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultMaxWorkers is the default queue's MaxWorkers when RIVER_MAX_WORKERS
// is unset. River has no default (QueueConfig.MaxWorkers is required, 1 to
// 10,000); 100 is the value of every example in River's documentation.
const defaultMaxWorkers = 100

// workConfig is what `work` reads from the environment.
type workConfig struct {
	// DatabaseURL is DATABASE_URL, a database migrated by marketfleet and
	// by `river-bench migrate`. Required.
	DatabaseURL string
	// App is RIVER_APP, the application_name of every session. Defaults to
	// "bench-river".
	App string
	// Pool is RIVER_POOL, the pgxpool's MaxConns. 0 (unset) keeps pgxpool's
	// default, max(4, runtime.NumCPU()).
	Pool int
	// MaxWorkers is RIVER_MAX_WORKERS, the default queue's MaxWorkers (jobs
	// worked at once). Defaults to defaultMaxWorkers.
	MaxWorkers int
	// FetchCooldown is RIVER_FETCH_COOLDOWN. 0 (unset) keeps River's
	// default, river.FetchCooldownDefault (100ms); River's minimum is 1ms.
	FetchCooldown time.Duration
	// FetchPollInterval is RIVER_FETCH_POLL_INTERVAL. 0 (unset) keeps
	// River's default, river.FetchPollIntervalDefault (1s); it may not be
	// shorter than the cooldown.
	FetchPollInterval time.Duration
	// Latency is RIVER_LATENCY, the synthetic source's delay per fetch.
	// Defaults to 0.
	Latency time.Duration
}

// loadWorkConfig reads the environment through getenv and validates it.
// Errors name the variable.
func loadWorkConfig(getenv func(string) string) (workConfig, error) {
	c := workConfig{DatabaseURL: getenv("DATABASE_URL"), App: getenv("RIVER_APP")}
	if c.App == "" {
		c.App = "bench-river"
	}
	var err error
	if c.Pool, err = intVar(getenv, "RIVER_POOL", 0); err != nil {
		return c, err
	}
	if c.MaxWorkers, err = intVar(getenv, "RIVER_MAX_WORKERS", defaultMaxWorkers); err != nil {
		return c, err
	}
	if c.FetchCooldown, err = durationVar(getenv, "RIVER_FETCH_COOLDOWN"); err != nil {
		return c, err
	}
	if c.FetchPollInterval, err = durationVar(getenv, "RIVER_FETCH_POLL_INTERVAL"); err != nil {
		return c, err
	}
	if c.Latency, err = durationVar(getenv, "RIVER_LATENCY"); err != nil {
		return c, err
	}
	switch {
	case c.DatabaseURL == "":
		return c, errors.New("DATABASE_URL is not set")
	case c.Pool < 0 || getenv("RIVER_POOL") != "" && c.Pool == 0:
		return c, fmt.Errorf("RIVER_POOL=%d: want at least 1 (or unset for pgxpool's default)", c.Pool)
	case c.MaxWorkers < 1:
		return c, fmt.Errorf("RIVER_MAX_WORKERS=%d: want at least 1", c.MaxWorkers)
	}
	return c, nil
}

func intVar(getenv func(string) string, name string, def int) (int, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want an integer", name, s)
	}
	return n, nil
}

// durationVar reads a Go duration >= 0; unset is 0.
func durationVar(getenv func(string) string, name string) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a Go duration >= 0 such as 5ms", name, s)
	}
	return d, nil
}

// newPool opens a pgxpool on dbURL whose sessions are named app, of at most
// maxConns connections (0: pgxpool's default), none opened ahead.
func newPool(dbURL, app string, maxConns int) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, errors.New("DATABASE_URL: cannot be parsed") // the error may quote a password
	}
	if maxConns > 0 {
		pcfg.MaxConns = int32(maxConns)
	}
	pcfg.MinConns = 0
	pcfg.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	return pool, nil
}

// newLogger is River's logger: warnings and errors, as text on w.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
