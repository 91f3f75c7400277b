package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/budget"
	"marketfleet/cmd/internal/cli"
	"marketfleet/slots"
	"marketfleet/store"
)

// fleetctlApp is fleetctl's application_name; its own short session is not
// counted among the other applications.
const fleetctlApp = "marketfleet-fleetctl"

// budgetReport is what `fleetctl budget` shows.
type budgetReport struct {
	Budget budget.Budget `json:"budget"`
	Slots  slots.State   `json:"slots"`
	// SafeReplicas is the largest replica count whose every replica can
	// hold a session; more replicas wait for a slot (harmless, but idle).
	SafeReplicas int `json:"safe_replicas"`
}

func budgetCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("budget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "JSON output for scripts")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fleetctl budget: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := readBudget(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl budget: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = printBudget(stdout, r, time.Now())
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl budget: %v\n", err)
		return 1
	}
	return 0
}

// readBudget does the connection math on the live server, through one short
// session, and reads the slot table.
func readBudget(ctx context.Context, cfg *config) (budgetReport, error) {
	// A server that refuses the session (53300: no slot left) is retried
	// for a while, then named: "last attempt: too many connections: ...
	// (SQLSTATE 53300)".
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	db, err := store.Open(octx, cfg.Config.DatabaseURL, store.Config{ApplicationName: fleetctlApp, StatementTimeout: 10 * time.Second})
	cancel()
	if err != nil {
		return budgetReport{}, fmt.Errorf("PostgreSQL (DATABASE_URL) refused the session fleetctl needs: %w", err)
	}
	limits, err := db.ServerLimits(ctx)
	_ = db.Close(context.Background())
	if err != nil {
		return budgetReport{}, err
	}
	if limits.Sessions[limits.SelfApp]--; limits.Sessions[limits.SelfApp] <= 0 {
		delete(limits.Sessions, limits.SelfApp)
	}
	nc, js, err := cli.ConnectNATS(ctx, cfg.Common, fleetctlApp, zerolog.Nop())
	if err != nil {
		return budgetReport{}, err
	}
	defer nc.Close()
	tab, err := slots.Open(ctx, js, cfg.Config.SlotsConfig())
	if err != nil {
		return budgetReport{}, err
	}
	st, err := tab.State(ctx)
	if err != nil {
		return budgetReport{}, err
	}
	b := budget.Compute(budget.Server{MaxConnections: limits.MaxConnections, SuperuserReserved: limits.SuperuserReserved,
		RoleReserved: limits.RoleReserved, Sessions: limits.Sessions}, cfg.Config.Budget)
	return budgetReport{Budget: b, Slots: st, SafeReplicas: b.Slots}, nil
}

func printBudget(w io.Writer, r budgetReport, now time.Time) error {
	b := r.Budget
	bw := bufio.NewWriter(w)
	line := func(label string, n int) { fmt.Fprintf(bw, "  %-54s %6d\n", label, n) }
	fmt.Fprintln(bw, "PostgreSQL connection budget (live)")
	line("max_connections", b.MaxConnections)
	line("- superuser_reserved_connections", b.SuperuserReserved)
	line("- reserved_connections", b.RoleReserved)
	line("- reserve for other applications (FLEET_DB_RESERVE)", b.Reserve)
	line("- sessions other applications hold now", b.Others)
	for _, a := range b.OtherApps {
		line("    "+orUnnamed(a.Name), a.Sessions)
	}
	line("= computed budget", b.Computed)
	if b.Cap > 0 {
		line("cap (FLEET_MAX_SESSIONS)", b.Cap)
	}
	line("= fleet slots", b.Slots)
	fmt.Fprintln(bw, "\nFleet")
	line("sessions held (pg_stat_activity)", b.Fleet)
	line("slots held", len(r.Slots.Held))
	line("replicas waiting for a slot", len(r.Slots.Waiting))
	held := slices.Clone(r.Slots.Held)
	slices.SortFunc(held, func(a, c slots.Holder) int { return a.Slot - c.Slot })
	for _, h := range held {
		fmt.Fprintf(bw, "    slot %d: %s, since %s\n", h.Slot, h.Holder, ago(now, h.Since))
	}
	for _, h := range r.Slots.Waiting {
		fmt.Fprintf(bw, "    waiting: %s, since %s\n", h.Holder, ago(now, h.Since))
	}
	if l := r.Slots.Limit; l != nil {
		fmt.Fprintf(bw, "  budget the fleet runs under: %d (published by %s %s)\n", l.Slots, l.By, ago(now, l.At))
	} else {
		fmt.Fprintln(bw, "  budget the fleet runs under: none published (no worker holds slot 0)")
	}
	fmt.Fprintf(bw, "\nLargest safe replica count: %d (replicas beyond it wait for a slot: harmless, but idle)\n", r.SafeReplicas)
	if b.Fleet > b.Slots {
		fmt.Fprintf(bw, "WARNING: the fleet holds %d sessions, over the budget of %d: holders beyond it give up their slot after their batch\n", b.Fleet, b.Slots)
	}
	return bw.Flush()
}

func orUnnamed(app string) string {
	if app == "" {
		return "(no application_name)"
	}
	return app
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}
