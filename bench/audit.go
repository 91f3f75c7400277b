package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/audit"
	"marketfleet/calendar"
	"marketfleet/history"
	"marketfleet/store"
)

// The audit benchmark's history: auditSymbols US symbols with auditYears of
// daily bars on every weekday (holidays included, as extras the audit
// must not count), one in auditHoleEvery of them deleted.
const (
	auditSymbols   = 500
	auditYears     = 10
	auditHoleEvery = 997
	// auditTarget is what issue 12 asks of one audit of that history.
	auditTarget = 5 * time.Second
)

// auditFrom is where the benchmark's history starts: its ten years lie in
// the years the NYSE calendar covers.
var auditFrom = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)

// auditRate is one audit of the benchmark's history.
type auditRate struct {
	Series   int           `json:"series"`
	Stored   int64         `json:"stored"`
	Expected int64         `json:"expected"`
	Missing  int64         `json:"missing"`
	Gaps     int           `json:"gaps"`
	ByMonth  bool          `json:"by_month"`
	Took     time.Duration `json:"took_ns"`
}

// auditRates fills a fresh database (in SQL: the point is the audit, not
// the write path) and times two audits through one session: the plain one
// (fleetctl audit) and the one with the monthly coverage (--html).
func (e *env) auditRates(ctx context.Context) ([]auditRate, error) {
	fmt.Fprintf(os.Stderr, "bench: audit, %d symbols x %d years of daily bars\n", auditSymbols, auditYears)
	dbURL, drop, err := e.freshDatabase(ctx, "bench_audit")
	if err != nil {
		return nil, err
	}
	defer drop()
	db, err := store.Open(ctx, dbURL, store.Config{ApplicationName: ceilApp, StatementTimeout: 10 * time.Minute})
	if err != nil {
		return nil, err
	}
	defer db.Close(context.WithoutCancel(ctx))
	if _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	if err := fillAuditHistory(ctx, dbURL); err != nil {
		return nil, err
	}
	cal, err := calendar.NewNYSE()
	if err != nil {
		return nil, err
	}
	p, err := history.New(history.Config{Calendar: cal})
	if err != nil {
		return nil, err
	}
	var out []auditRate
	for _, byMonth := range []bool{false, true} {
		r, err := audit.Run(ctx, db, p, store.AuditQuery{ByMonth: byMonth})
		if err != nil {
			return nil, err
		}
		out = append(out, auditRate{Series: r.Totals.Series, Stored: r.Totals.Stored, Expected: r.Totals.Expected,
			Missing: r.Totals.Missing, Gaps: r.Totals.Gaps, ByMonth: byMonth, Took: r.Took})
	}
	return out, nil
}

// fillAuditHistory inserts the benchmark's history and deletes its holes.
func fillAuditHistory(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	to := auditFrom.AddDate(auditYears, 0, 0)
	for _, stmt := range []string{
		fmt.Sprintf(`INSERT INTO bars (symbol, "interval", ts, open, high, low, close, adj_close, volume, source, as_of, fetched_at)
			SELECT 'S' || lpad(s::text, 4, '0'), '1d', d, 10, 11, 9, 10, 10, 1000, 'bench', now(), now()
			FROM generate_series(1, %d) s, generate_series($1::timestamptz, $2::timestamptz - interval '1 day', interval '1 day') d
			WHERE extract(isodow FROM d) < 6`, auditSymbols),
		fmt.Sprintf(`DELETE FROM bars WHERE (hashtext(symbol || ts::text) & 2147483647) %% %d = 0`, auditHoleEvery),
		`ANALYZE bars`,
	} {
		if _, err := conn.Exec(ctx, stmt, pgArgs(stmt, auditFrom, to)...); err != nil {
			return fmt.Errorf("fill the audit history: %w", err)
		}
	}
	return nil
}

// pgArgs are the window's ends for a statement that takes them.
func pgArgs(stmt string, from, to time.Time) []any {
	if stmt[:6] == "INSERT" {
		return []any{from, to}
	}
	return nil
}

// auditLine writes what the audits cost, if measured.
func (r report) auditLine(w io.Writer) {
	for _, a := range r.Audit {
		what := "audit"
		if a.ByMonth {
			what = "audit with monthly coverage (--html)"
		}
		verdict := "met"
		if a.Took >= auditTarget {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "\n%s of %d series (%d bars stored, %d expected, %d missing in %d gaps): %s through one session (target < %s: %s).",
			what, a.Series, a.Stored, a.Expected, a.Missing, a.Gaps, a.Took.Round(time.Millisecond), auditTarget, verdict)
	}
	if len(r.Audit) > 0 {
		fmt.Fprintln(w)
	}
}
