package main

import (
	"fmt"
	"strconv"
	"time"
)

// Designs this binary reproduces.
const (
	designPooled     = "pooled"
	designSequential = "sequential"
)

// config is everything the environment says. Every field has a default
// except the two URLs and the design.
type config struct {
	// NATSURL is NATS_URL.
	NATSURL string
	// DatabaseURL is DATABASE_URL.
	DatabaseURL string
	// Design is BASELINE_DESIGN: pooled or sequential.
	Design string
	// Pool is BASELINE_POOL, the pool's MaxConns (pooled only). Defaults to 4.
	Pool int
	// Inflight is BASELINE_INFLIGHT, tasks processed at once (pooled only;
	// sequential is always 1). Defaults to 8.
	Inflight int
	// Latency is BASELINE_LATENCY, the synthetic source's delay per fetch.
	// Defaults to 0.
	Latency time.Duration
	// App is BASELINE_APP, the sessions' application_name. Defaults to
	// "bench-<design>".
	App string
	// Stats is BASELINE_STATS, the JSON file written at exit. Defaults to
	// none: the stats go to stdout.
	Stats string
	// MaxDeliver is BASELINE_MAX_DELIVER, the consumer's MaxDeliver.
	// Defaults to 10, the worker's default, so that both designs run on the
	// same consumer definition.
	MaxDeliver int
}

// loadConfig reads the environment through getenv and validates it. Errors
// name the variable.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		NATSURL:     getenv("NATS_URL"),
		DatabaseURL: getenv("DATABASE_URL"),
		Design:      getenv("BASELINE_DESIGN"),
		App:         getenv("BASELINE_APP"),
		Stats:       getenv("BASELINE_STATS"),
	}
	var err error
	if c.Pool, err = intVar(getenv, "BASELINE_POOL", 4); err != nil {
		return c, err
	}
	if c.Inflight, err = intVar(getenv, "BASELINE_INFLIGHT", 8); err != nil {
		return c, err
	}
	if c.MaxDeliver, err = intVar(getenv, "BASELINE_MAX_DELIVER", 10); err != nil {
		return c, err
	}
	if s := getenv("BASELINE_LATENCY"); s != "" {
		if c.Latency, err = time.ParseDuration(s); err != nil || c.Latency < 0 {
			return c, fmt.Errorf("BASELINE_LATENCY=%q: want a Go duration >= 0 such as 5ms", s)
		}
	}
	if c.App == "" {
		c.App = "bench-" + c.Design
	}
	switch {
	case c.NATSURL == "":
		return c, fmt.Errorf("NATS_URL is not set")
	case c.DatabaseURL == "":
		return c, fmt.Errorf("DATABASE_URL is not set")
	case c.Design != designPooled && c.Design != designSequential:
		return c, fmt.Errorf("BASELINE_DESIGN=%q: want %s or %s", c.Design, designPooled, designSequential)
	case c.Pool < 1:
		return c, fmt.Errorf("BASELINE_POOL=%d: want at least 1", c.Pool)
	case c.Inflight < 1:
		return c, fmt.Errorf("BASELINE_INFLIGHT=%d: want at least 1", c.Inflight)
	case c.MaxDeliver < 1:
		return c, fmt.Errorf("BASELINE_MAX_DELIVER=%d: want at least 1", c.MaxDeliver)
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
