package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/audit"
	"marketfleet/calendar"
	"marketfleet/cmd/internal/cli"
	"marketfleet/history"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/store"
	"marketfleet/tasks"
)

// auditOpts are fleetctl audit's flags.
type auditOpts struct {
	q                store.AuditQuery
	asJSON, repair   bool
	html             string
	wait, timeout    time.Duration
	statementTimeout time.Duration
	grace            time.Duration
}

// auditPoll is how often a waiting repair audits again.
const auditPoll = 2 * time.Second

func parseAuditFlags(args []string, stderr io.Writer) (*auditOpts, error) {
	o := &auditOpts{}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Func("symbol", "only this symbol", func(v string) error {
		v = strings.ToUpper(v)
		o.q.Symbol = v
		return market.ValidateSymbol(v)
	})
	fs.Func("interval", "only this interval (1d, 1wk, 5m, ...)", func(v string) error {
		iv, err := market.ParseInterval(v)
		o.q.Interval = iv
		return err
	})
	fs.Func("from", "only bars from this date on (YYYY-MM-DD)", func(v string) (err error) {
		o.q.From, err = time.Parse(time.DateOnly, v)
		return err
	})
	fs.Func("to", "only bars before this date (YYYY-MM-DD)", func(v string) (err error) {
		o.q.To, err = time.Parse(time.DateOnly, v)
		return err
	})
	fs.BoolVar(&o.asJSON, "json", false, "JSON output for scripts (every series, every gap)")
	fs.StringVar(&o.html, "html", "", "also write a coverage heatmap to this file (one self-contained page)")
	fs.BoolVar(&o.repair, "repair", false, "enqueue one collect task per gap (the normal queue, budget and rate limit); the bars the source has no data for become known holes")
	fs.DurationVar(&o.wait, "wait", 10*time.Minute, "with --repair: audit again every 2s, with a progress bar, until nothing is missing or this long has passed (0: do not wait)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to try to reach PostgreSQL and NATS")
	fs.DurationVar(&o.statementTimeout, "statement-timeout", 5*time.Minute, "server-side limit on one audit statement")
	fs.DurationVar(&o.grace, "grace", audit.DefaultGrace, "a gap found again this long after its repair was asked for counts as persisting")
	if err := fs.Parse(reorder(args)); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !o.q.From.IsZero() && !o.q.To.IsZero() && !o.q.From.Before(o.q.To) {
		return nil, fmt.Errorf("--from %s is not before --to %s", o.q.From.Format(time.DateOnly), o.q.To.Format(time.DateOnly))
	}
	o.q.ByMonth = o.html != ""
	return o, nil
}

func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseAuditFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl audit: %v\n", err)
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl: %v\n", err)
		return 2
	}
	if err := runAudit(ctx, cfg, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "fleetctl audit: %s\n", oneLine(err))
		return 1
	}
	return 0
}

func runAudit(ctx context.Context, cfg *config, o *auditOpts, stdout, stderr io.Writer) error {
	ctx, stop := cli.WithSignals(ctx, zerolog.Nop())
	defer stop()
	cal, err := calendar.NewNYSE()
	if err != nil {
		return err
	}
	policy, err := history.New(history.Config{Calendar: cal})
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, o.timeout)
	db, err := store.Open(octx, cfg.Config.DatabaseURL, store.Config{ApplicationName: fleetctlApp, StatementTimeout: o.statementTimeout})
	cancel()
	if err != nil {
		return fmt.Errorf("PostgreSQL unreachable (DATABASE_URL): %w", err)
	}
	defer func() { _ = db.Close(context.WithoutCancel(ctx)) }()
	r, err := audit.Run(ctx, db, policy, o.q)
	if err != nil {
		return undefinedTable(err)
	}
	host, _ := os.Hostname()
	by := "fleetctl@" + host
	var repairs []tasks.Task
	if o.repair {
		if repairs, err = publishRepairs(ctx, cfg, o, r, by, stderr); err != nil {
			return err
		}
	}
	if err := audit.Record(ctx, db, &r, by, len(repairs), o.grace); err != nil {
		return err
	}
	if len(repairs) > 0 && o.wait > 0 {
		if r, err = waitForRepairs(ctx, db, policy, o, r, stderr); err != nil {
			return err
		}
		if err := audit.Record(ctx, db, &r, by, 0, o.grace); err != nil {
			return err
		}
	}
	if o.html != "" {
		if err := writeHTML(ctx, db, o, r); err != nil {
			return err
		}
	}
	if o.asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	printAudit(stdout, r, len(repairs))
	return nil
}

// undefinedTable explains a database without the audit's tables.
func undefinedTable(err error) error {
	if store.SQLState(err) == sqlUndefinedTable {
		return fmt.Errorf("no known_holes table yet (migration 6 runs when a worker of this version starts): %w", err)
	}
	return err
}

// publishRepairs enqueues one repair task per gap of r (audit.RepairTasks)
// with a progress bar on stderr.
func publishRepairs(ctx context.Context, cfg *config, o *auditOpts, r audit.Report, by string, stderr io.Writer) ([]tasks.Task, error) {
	repairs, err := audit.RepairTasks(r, by, time.Now())
	if err != nil || len(repairs) == 0 {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	nc, js, err := cli.ConnectNATS(cctx, cfg.Common, fleetctlApp, zerolog.Nop())
	if err == nil {
		_, _, err = queue.EnsureStream(cctx, js, cfg.Config.StreamConfig())
	}
	cancel()
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, fmt.Errorf("NATS: %w", err)
	}
	defer nc.Close()
	pub := queue.NewPublisher(js, cfg.Config.Stream.Name)
	prog := cli.NewProgress(stderr, "fleetctl: audit --repair: enqueued", "tasks", len(repairs), time.Now)
	const chunk = 500
	var res queue.Result
	for done := 0; done < len(repairs); {
		end := min(done+chunk, len(repairs))
		r, err := pub.Publish(ctx, repairs[done:end])
		res.Accepted, res.Duplicates = res.Accepted+r.Accepted, res.Duplicates+r.Duplicates
		if err != nil {
			return repairs[:done+r.Accepted+r.Duplicates], fmt.Errorf("enqueue repairs %d-%d of %d: %w", done+1, end, len(repairs), err)
		}
		done = end
		prog.Update(done)
	}
	prog.Finish(len(repairs))
	fmt.Fprintf(stderr, "fleetctl audit: %d repair tasks for %d gaps: %d accepted, %d duplicates (asked for within the dedup window)\n",
		len(repairs), r.Totals.Gaps, res.Accepted, res.Duplicates)
	return repairs, nil
}

// waitForRepairs audits again every auditPoll, drawing the missing bars
// filled (stored or found to be known holes) as a progress bar, until none
// is missing or o.wait has passed, and returns the last audit.
func waitForRepairs(ctx context.Context, db *store.Store, exp store.Expectation, o *auditOpts, first audit.Report, stderr io.Writer) (audit.Report, error) {
	total := int(first.Totals.Missing)
	prog := cli.NewProgress(stderr, "fleetctl: audit --repair: filled", "bars", total, time.Now)
	deadline := time.Now().Add(o.wait)
	last := first
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(auditPoll):
		}
		r, err := audit.Run(ctx, db, exp, o.q)
		if err != nil {
			return last, err
		}
		last = r
		done := max(total-int(r.Totals.Missing), 0)
		prog.Update(done)
		if r.Totals.Missing == 0 || time.Now().After(deadline) {
			prog.Finish(done)
			return last, nil
		}
	}
}

// writeHTML writes the report's heatmap, with the restatements, to o.html.
func writeHTML(ctx context.Context, db *store.Store, o *auditOpts, r audit.Report) error {
	restated, err := db.Restated(ctx, o.q.Symbol)
	if err != nil {
		return err
	}
	f, err := os.Create(o.html)
	if err != nil {
		return err
	}
	if err := audit.WriteHTML(f, r, restated); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// printAudit prints the totals, the series that are not complete, and
// their gaps.
func printAudit(w io.Writer, r audit.Report, repairs int) {
	t := r.Totals
	fmt.Fprintf(w, "audit %s: %d series, %d expected bars, %d present, %d missing in %d gaps (%d persisting), %d known holes, %d provisional; %d stored (%s)\n",
		cmp.Or(r.Scope, "of everything"), t.Series, t.Expected, t.Present, t.Missing, t.Gaps, t.Persisting, t.Holes,
		t.Provisional, t.Stored, r.Took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	complete, settling := 0, 0
	header := false
	var unaudited []string
	for _, s := range r.Series {
		if s.Unaudited != "" {
			unaudited = append(unaudited, fmt.Sprintf("  %s: %s", s.Series, s.Unaudited))
			continue
		}
		if s.Missing == 0 && s.Holes == 0 {
			complete++
			if s.Provisional > 0 {
				settling++
			}
			continue
		}
		if !header {
			fmt.Fprintln(tw, "SERIES\tEXCHANGE\tFIRST\tLAST\tEXPECTED\tPRESENT\tMISSING\tHOLES\tPROVISIONAL\tGAPS")
			header = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Series, s.Exchange, day(s.First), day(s.Last),
			s.Expected, s.Present, s.Missing, s.Holes, s.Provisional, len(s.Gaps))
	}
	_ = tw.Flush()
	if complete > 0 {
		fmt.Fprintf(w, "%d series complete", complete)
		if settling > 0 {
			fmt.Fprintf(w, " (%d with provisional bars, re-collected until final)", settling)
		}
		fmt.Fprintln(w)
	}
	if len(unaudited) > 0 {
		fmt.Fprintf(w, "%d series not audited:\n%s\n", len(unaudited), strings.Join(unaudited, "\n"))
	}
	if t.Gaps > 0 {
		fmt.Fprintln(w, "gaps (first .. last missing bar):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, g := range r.Gaps() {
			span := day(g.First)
			if !g.Last.Equal(g.First) {
				span += " .. " + day(g.Last)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d bars\n", g.Series, span, g.Bars)
		}
		_ = tw.Flush()
		if repairs == 0 {
			fmt.Fprintln(w, "repair them with: fleetctl audit --repair (same filters)")
		}
	}
}

// day formats a bar start: its date when at midnight UTC, else the instant.
func day(t time.Time) string {
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}
