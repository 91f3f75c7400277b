package main

import (
	"io"

	"marketfleet/cmd/internal/cli"
)

// config is what fleetctl reads from the environment: its own settings
// (NATS, logging) and the fleet's, bound to the workers' configuration
// (worker.Config), whose defaults and limits apply: fleetctl looks where the
// workers look.
type config struct {
	cli.Fleet
	cli.Budget
	cli.Workers
}

// newConfig returns a config holding the defaults, its variables bound.
func newConfig() *config {
	c := &config{}
	c.Defaults()
	c.Budget = cli.BindBudget(&c.Config.Budget, &c.Config.Slots)
	c.Workers = cli.BindWorkers(&c.Config)
	return c
}

// loadConfig reads the environment; the error names the variable.
func loadConfig() (*config, error) {
	c := newConfig()
	return c, cli.LoadFleet(c, &c.Fleet)
}

func printEnv(w io.Writer) error { return cli.PrintEnv(w, newConfig()) }
