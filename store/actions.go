package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// recordActions inserts the actions the table lacks; the rest are left as
// first reported.
const recordActions = `
INSERT INTO corporate_actions (symbol, ex_date, effective_at, kind, numerator, denominator, amount, factor, source)
SELECT s, d, e, k, CASE WHEN k = 'split' THEN n END, CASE WHEN k = 'split' THEN dn END,
       CASE WHEN k <> 'split' THEN a END, CASE WHEN k <> 'split' AND f > 0 THEN f END, src
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::float8[], $6::float8[],
            $7::float8[], $8::float8[], $9::text[])
     AS u(s, d, e, k, n, dn, a, f, src)
ORDER BY s, d, k -- one order for every writer: two batches with the same new actions cannot deadlock
ON CONFLICT (symbol, ex_date, kind) DO NOTHING`

// unrestated lists the series of the given symbols that an action of
// theirs has not been applied to yet and may change: the action is dated
// after the series' first bar and in effect after its oldest as-of (the
// same test Restate applies, see pendingActions).
const unrestated = `
SELECT s.symbol, s."interval"
FROM (SELECT symbol, "interval", min(ts) AS first, min(coalesce(as_of, updated_at)) AS oldest
      FROM bars WHERE symbol = ANY($1::text[]) GROUP BY symbol, "interval") s
WHERE EXISTS (
    SELECT 1 FROM corporate_actions a
    WHERE a.symbol = s.symbol AND greatest(a.ex_date, a.effective_at) > s.first AND a.effective_at > s.oldest
      AND NOT EXISTS (SELECT 1 FROM restatements r WHERE r.action_id = a.id AND r."interval" = s."interval"))
ORDER BY 1, 2`

// RecordActions stores the actions the corporate_actions table lacks, in
// one statement, and reports how many were new. An action already stored
// (the same symbol, ex-date and kind) keeps its first values. Actions must
// be valid (market.Action.Validate): the table's checks refuse the rest
// (outcome.Data).
func (t *Tx) RecordActions(ctx context.Context, actions []market.Action) (int64, error) {
	if len(actions) == 0 {
		return 0, nil
	}
	actions = lastByKey(actions, func(a market.Action) market.ActionKey { return a.Key() })
	n := len(actions)
	sym, kind, src := make([]string, n), make([]string, n), make([]string, n)
	date, eff := make([]time.Time, n), make([]time.Time, n)
	num, den, amt, fac := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, a := range actions {
		sym[i], date[i], eff[i], kind[i], src[i] = a.Symbol, a.ExDate.UTC(), a.Effective().UTC(), string(a.Kind), a.Source
		num[i], den[i], amt[i], fac[i] = a.Numerator, a.Denominator, a.Amount, a.Factor
	}
	var added int64
	err := t.run(ctx, "record corporate actions", func(q querier) error {
		tag, err := q.Exec(ctx, recordActions, sym, date, eff, kind, num, den, amt, fac, src)
		added = tag.RowsAffected()
		return err
	})
	return added, err
}

// Unrestated returns, in one round trip, the series of symbols whose
// stored bars an action of their symbol has not been applied to yet and may
// change: what Restate has to do.
func (t *Tx) Unrestated(ctx context.Context, symbols []string) ([]market.Series, error) {
	if len(symbols) == 0 {
		return nil, nil
	}
	var out []market.Series
	err := t.run(ctx, "unrestated series", func(q querier) error {
		rows, err := q.Query(ctx, unrestated, symbols)
		if err == nil {
			out, err = pgx.CollectRows(rows, scanSeries)
		}
		return err
	})
	return out, err
}

// UnrestatedSince is Unrestated for the symbols with an action first seen
// at or after since: the series a restatement is still owed to, found
// without scanning the bars of every symbol. A schema before migration 4
// fails with SQLSTATE 42P01.
func (s *Store) UnrestatedSince(ctx context.Context, since time.Time) ([]market.Series, error) {
	var out []market.Series
	err := s.do("unrestated series", func(conn *pgx.Conn) error {
		var symbols []string
		if err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT symbol), '{}') FROM corporate_actions
			WHERE first_seen_at >= $1`, since).Scan(&symbols); err != nil || len(symbols) == 0 {
			return err
		}
		rows, err := conn.Query(ctx, unrestated, symbols)
		if err == nil {
			out, err = pgx.CollectRows(rows, scanSeries)
		}
		return err
	})
	return out, err
}

func scanSeries(row pgx.CollectableRow) (market.Series, error) {
	var s market.Series
	var iv string
	err := row.Scan(&s.Symbol, &iv)
	s.Interval = market.Interval(iv)
	return s, err
}

// ActionRecord is a stored corporate action with the restatements it caused.
type ActionRecord struct {
	market.Action
	FirstSeen    time.Time
	Restatements []RestatementRecord
}

// RestatementRecord is a restatements row: one action applied to one
// series of its symbol.
type RestatementRecord struct {
	Interval    market.Interval
	Bars        int64
	First, Last time.Time // zero when no bar changed
	Factor      float64
	Refused     string // why the action was not applied, if it was not
	At          time.Time
}

// Actions returns the stored actions of symbol, oldest ex-date first, each
// with its restatements by interval. Errors are wrapped ("corporate
// actions: ..."); a schema before migration 4 fails with SQLSTATE 42P01.
func (s *Store) Actions(ctx context.Context, symbol string) ([]ActionRecord, error) {
	var out []ActionRecord
	err := s.do("corporate actions", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `
			SELECT a.id, a.ex_date, a.kind, coalesce(a.numerator, 0), coalesce(a.denominator, 0),
			       coalesce(a.amount, 0), coalesce(a.factor, 0), a.source, a.first_seen_at,
			       r."interval", r.bars_changed, r.first_changed, r.last_changed, r.factor, r.refused, r.restated_at
			FROM corporate_actions a LEFT JOIN restatements r ON r.action_id = a.id
			WHERE a.symbol = $1 ORDER BY a.ex_date, a.kind, r."interval"`, symbol)
		if err != nil {
			return err
		}
		lastID := int64(-1)
		var id int64
		var a ActionRecord
		var kind string
		var iv *string
		var bars *int64
		var first, last, at *time.Time
		var factor *float64
		var refused *string
		_, err = pgx.ForEachRow(rows, []any{&id, &a.ExDate, &kind, &a.Numerator, &a.Denominator, &a.Amount, &a.Factor,
			&a.Source, &a.FirstSeen, &iv, &bars, &first, &last, &factor, &refused, &at}, func() error {
			if id != lastID {
				a.Symbol, a.Kind, a.ExDate, a.FirstSeen = symbol, market.ActionKind(kind), a.ExDate.UTC(), a.FirstSeen.UTC()
				out, lastID = append(out, ActionRecord{Action: a.Action, FirstSeen: a.FirstSeen}), id
			}
			if iv != nil {
				r := RestatementRecord{Interval: market.Interval(*iv), Bars: *bars, Factor: deref(factor), At: at.UTC()}
				if refused != nil {
					r.Refused = *refused
				}
				if first != nil {
					r.First, r.Last = first.UTC(), last.UTC()
				}
				cur := &out[len(out)-1]
				cur.Restatements = append(cur.Restatements, r)
			}
			return nil
		})
		return err
	})
	return out, err
}

// RestatementCount totals the restatements of one action kind.
type RestatementCount struct {
	Kind    market.ActionKind
	Series  int64 // restatements that changed bars: (action, series) pairs
	Refused int64 // actions not applied to a series (see Restatement.Refused)
	Symbols int64
	Bars    int64
}

// RestatementsSince totals, by action kind, the restatements made at or
// after since that changed bars or were refused; kinds without any are
// absent. A schema before migration 4 fails with SQLSTATE 42P01.
func (s *Store) RestatementsSince(ctx context.Context, since time.Time) ([]RestatementCount, error) {
	var out []RestatementCount
	err := s.do("restatements", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `
			SELECT a.kind, count(*) FILTER (WHERE r.bars_changed > 0), count(r.refused), count(DISTINCT a.symbol),
			       sum(r.bars_changed)::int8
			FROM restatements r JOIN corporate_actions a ON a.id = r.action_id
			WHERE r.restated_at >= $1 AND (r.bars_changed > 0 OR r.refused IS NOT NULL)
			GROUP BY a.kind ORDER BY a.kind`, since)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RestatementCount, error) {
			var c RestatementCount
			var kind string
			err := row.Scan(&kind, &c.Series, &c.Refused, &c.Symbols, &c.Bars)
			c.Kind = market.ActionKind(kind)
			return c, err
		})
		return err
	})
	return out, err
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}
