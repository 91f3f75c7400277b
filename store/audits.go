package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// SeriesGap is a gap with its series.
type SeriesGap struct {
	market.Series
	Gap
}

// AuditRecord is one audit run as the audits table keeps it.
type AuditRecord struct {
	At          time.Time     `json:"at"`
	By          string        `json:"by"`
	Scope       string        `json:"scope"`
	Series      int           `json:"series"`
	Expected    int64         `json:"expected"`
	Stored      int64         `json:"stored"`
	Missing     int64         `json:"missing"`
	Gaps        int           `json:"gaps"`
	Persisting  int           `json:"persisting"`
	Holes       int64         `json:"known_holes"`
	RepairTasks int           `json:"repair_tasks"`
	Took        time.Duration `json:"took_ns"`
}

// Statements of RecordAudit. $1..$4 are the gaps found (symbol, interval,
// first and last missing bar); a repair and a gap match when they overlap.
const (
	forgetRepaired = `
DELETE FROM repairs r
USING unnest($5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[]) AS a(symbol, iv, first, last)
WHERE r.symbol = a.symbol AND r."interval" = a.iv AND r.first_ts BETWEEN a.first AND a.last
  AND NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS g(symbol, iv, first, last)
                  WHERE g.symbol = r.symbol AND g.iv = r."interval" AND g.first <= r.last_ts AND g.last >= r.first_ts)`
	countPersisting = `
SELECT count(*) FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS g(symbol, iv, first, last)
WHERE EXISTS (SELECT 1 FROM repairs r
              WHERE r.symbol = g.symbol AND r."interval" = g.iv AND g.first <= r.last_ts AND g.last >= r.first_ts
                AND r.requested_at < now() - make_interval(secs => $5::float8))`
	enterRepairs = `
INSERT INTO repairs (symbol, "interval", first_ts, last_ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
ON CONFLICT DO NOTHING`
	insertAudit = `
INSERT INTO audits (at, by_whom, scope, series, expected, stored, missing, gaps, persisting, known_holes, repair_tasks, took_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
)

// AuditedRange is a series and the range an audit looked at.
type AuditedRange struct {
	market.Series
	First, Last time.Time
}

// RecordAudit stores one audit run, in one transaction: it forgets the
// repairs within the audited ranges whose gap is no longer found, counts the
// gaps found again more than grace after their repair was asked for
// (persisting: returned and recorded), and, when repairing, enters the gaps
// in the ledger (a gap already there keeps its first request's time).
func (s *Store) RecordAudit(ctx context.Context, rec AuditRecord, audited []AuditedRange, gaps []SeriesGap, repairing bool, grace time.Duration) (int, error) {
	na := len(audited)
	symbols, intervals, firsts, lasts := make([]string, na), make([]string, na), make([]time.Time, na), make([]time.Time, na)
	for i, a := range audited {
		symbols[i], intervals[i], firsts[i], lasts[i] = a.Symbol, string(a.Interval), a.First, a.Last
	}
	n := len(gaps)
	gs, gi, gf, gl := make([]string, n), make([]string, n), make([]time.Time, n), make([]time.Time, n)
	for i, g := range gaps {
		gs[i], gi[i], gf[i], gl[i] = g.Symbol, string(g.Interval), g.First, g.Last
	}
	var persisting int
	err := s.InTx(ctx, func(tx *Tx) error {
		return tx.run(ctx, "record audit", func(q querier) error {
			if _, err := q.Exec(ctx, forgetRepaired, gs, gi, gf, gl, symbols, intervals, firsts, lasts); err != nil {
				return err
			}
			if err := q.QueryRow(ctx, countPersisting, gs, gi, gf, gl, grace.Seconds()).Scan(&persisting); err != nil {
				return err
			}
			if repairing {
				if _, err := q.Exec(ctx, enterRepairs, gs, gi, gf, gl); err != nil {
					return err
				}
			}
			rec.Persisting = persisting
			_, err := q.Exec(ctx, insertAudit, rec.At, rec.By, rec.Scope, rec.Series, rec.Expected, rec.Stored,
				rec.Missing, rec.Gaps, rec.Persisting, rec.Holes, rec.RepairTasks, rec.Took.Milliseconds())
			return err
		})
	})
	return persisting, err
}

// LastAudit returns the latest audit run (of the whole history only, when
// whole), and false when none ran.
func (s *Store) LastAudit(ctx context.Context, whole bool) (AuditRecord, bool, error) {
	var r AuditRecord
	var ms int64
	err := s.do("last audit", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT at, by_whom, scope, series, expected, stored, missing, gaps, persisting,
			known_holes, repair_tasks, took_ms FROM audits WHERE NOT $1 OR scope = ''
			ORDER BY at DESC, id DESC LIMIT 1`, whole).Scan(
			&r.At, &r.By, &r.Scope, &r.Series, &r.Expected, &r.Stored, &r.Missing, &r.Gaps, &r.Persisting,
			&r.Holes, &r.RepairTasks, &ms)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return AuditRecord{}, false, nil
	}
	if err != nil {
		return AuditRecord{}, false, err
	}
	r.At, r.Took = r.At.UTC(), time.Duration(ms)*time.Millisecond
	return r, true, nil
}

// Finality is how much of the history is not final yet, and what is known
// to be missing for good.
type Finality struct {
	// Provisional counts the provisional bars; Due those of them whose
	// final values a fetch now returns; Oldest is the earliest instant one
	// of them became due (zero if none is).
	Provisional, Due int64
	OldestDue        time.Time
	// Holes counts the known holes.
	Holes int64
}

// FinalityAt counts the provisional bars (due at now) and the known holes.
func (s *Store) FinalityAt(ctx context.Context, now time.Time) (Finality, error) {
	var f Finality
	var oldest *time.Time
	err := s.do("finality", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE provisional_until <= $1),
			min(provisional_until) FILTER (WHERE provisional_until <= $1),
			(SELECT count(*) FROM known_holes)
			FROM bars WHERE provisional_until IS NOT NULL`, now).Scan(&f.Provisional, &f.Due, &oldest, &f.Holes)
	})
	if oldest != nil {
		f.OldestDue = oldest.UTC()
	}
	return f, err
}

// DueProvisional returns, per series, the window of its provisional bars
// whose final values a fetch at now returns, and that became due after
// since: from the first such bar's start to the last one's, at most limit
// series, the longest due first. (A bar due before since is one the
// source no longer returns: it stays provisional, and is no longer asked
// for.)
func (s *Store) DueProvisional(ctx context.Context, now, since time.Time, limit int) ([]SeriesGap, error) {
	var out []SeriesGap
	err := s.do("due provisional bars", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT symbol, "interval", min(ts), max(ts), count(*) FROM bars
			WHERE provisional_until IS NOT NULL AND provisional_until <= $1 AND provisional_until > $2
			GROUP BY symbol, "interval" ORDER BY min(provisional_until), symbol, "interval" LIMIT $3`, now, since, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (SeriesGap, error) {
			var g SeriesGap
			var iv string
			err := row.Scan(&g.Symbol, &iv, &g.First, &g.Last, &g.Bars)
			g.Interval, g.First, g.Last = market.Interval(iv), g.First.UTC(), g.Last.UTC()
			return g, err
		})
		return err
	})
	return out, err
}

// SeriesRestatement is a corporate action applied to a series' stored bars.
type SeriesRestatement struct {
	market.Series
	ExDate time.Time
	Kind   market.ActionKind
}

// Restated lists the restatements that changed bars, of symbol (all when
// empty), by series and ex-date.
func (s *Store) Restated(ctx context.Context, symbol string) ([]SeriesRestatement, error) {
	var out []SeriesRestatement
	err := s.do("restated series", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT a.symbol, r."interval", a.ex_date, a.kind
			FROM restatements r JOIN corporate_actions a ON a.id = r.action_id
			WHERE r.bars_changed > 0 AND r.refused IS NULL AND ($1 = '' OR a.symbol = $1)
			ORDER BY 1, 2, 3`, symbol)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (SeriesRestatement, error) {
			var r SeriesRestatement
			var iv, kind string
			err := row.Scan(&r.Symbol, &iv, &r.ExDate, &kind)
			r.Interval, r.Kind, r.ExDate = market.Interval(iv), market.ActionKind(kind), r.ExDate.UTC()
			return r, err
		})
		return err
	})
	return out, err
}
