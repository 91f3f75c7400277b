package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// Restatement is one action applied to the stored bars of one series.
type Restatement struct {
	Action market.Action
	Series market.Series
	// Bars is the number of bars changed; First and Last are the starts of
	// the earliest and latest (zero when none changed).
	Bars        int64
	First, Last time.Time
	// Factor is what prices were divided by (a split: its ratio) or
	// adjusted closes multiplied by (a distribution: 1 - amount / the close
	// of the series' last bar before the ex-date).
	Factor float64
}

// The statements of a restatement; $1 symbol, $2 interval, $3 ex-date. A
// bar is restated when it starts before the ex-date and is as of an
// earlier instant (see migration 0004); as_of is kept (a legacy row's
// stand-in, updated_at, is copied into it first).
const (
	seriesSpan = `SELECT min(ts), min(coalesce(as_of, updated_at)) FROM bars WHERE symbol = $1 AND "interval" = $2`

	pendingActions = `
SELECT id, ex_date, kind, coalesce(numerator, 0), coalesce(denominator, 0), coalesce(amount, 0),
       coalesce(factor, 0), source
FROM corporate_actions a
WHERE symbol = $1 AND ex_date > $3 AND ex_date > $4
  AND NOT EXISTS (SELECT 1 FROM restatements r WHERE r.action_id = a.id AND r."interval" = $2)
ORDER BY kind <> 'split', ex_date, kind`

	claimRestatement = `INSERT INTO restatements (action_id, "interval") VALUES ($1, $2) ON CONFLICT DO NOTHING`

	recordRestatement = `UPDATE restatements SET bars_changed = $3, first_changed = $4, last_changed = $5, factor = $6
WHERE action_id = $1 AND "interval" = $2`

	closeBefore = `SELECT close FROM bars WHERE symbol = $1 AND "interval" = $2 AND ts < $3 ORDER BY ts DESC LIMIT 1`

	restateSplit = `
WITH up AS (
    UPDATE bars SET open = open / $4, high = high / $4, low = low / $4, close = close / $4,
        adj_close = adj_close / $4, volume = round(volume::numeric * $4::numeric)::bigint,
        as_of = coalesce(as_of, updated_at), updated_at = now()
    WHERE symbol = $1 AND "interval" = $2 AND ts < $3 AND coalesce(as_of, updated_at) < $3
    RETURNING ts)
SELECT count(*), min(ts), max(ts) FROM up`

	restateDistribution = `
WITH up AS (
    UPDATE bars SET adj_close = adj_close * $4, as_of = coalesce(as_of, updated_at), updated_at = now()
    WHERE symbol = $1 AND "interval" = $2 AND ts < $3 AND coalesce(as_of, updated_at) < $3
      AND adj_close IS NOT NULL
    RETURNING ts)
SELECT count(*), min(ts), max(ts) FROM up`
)

// Restate applies to the series' stored bars every action of its symbol
// not applied to it yet that may change them (dated after its first bar and
// after its oldest as-of), inside the transaction: splits first (prices
// divided by the ratio, volume multiplied), then distributions (adjusted
// closes multiplied by the action's factor, or when it has none by
// 1 - amount / the close of the series' last bar before the ex-date, read
// after the splits). Each application claims its
// restatements row first: a concurrent Restate of the same series waits
// for this transaction and then skips what it applied, so an action is
// applied to a series exactly once. It returns what it applied, bars
// changed or not.
//
// A distribution not below that close fails with ErrBadFactor (outcome.Data)
// and the caller's transaction must be rolled back: nothing is changed.
func (t *Tx) Restate(ctx context.Context, series market.Series) ([]Restatement, error) {
	var out []Restatement
	err := t.run(ctx, "restate "+series.String(), func(q querier) error {
		var first, oldest *time.Time
		sym, iv := series.Symbol, string(series.Interval)
		if err := q.QueryRow(ctx, seriesSpan, sym, iv).Scan(&first, &oldest); err != nil || first == nil {
			return err
		}
		rows, err := q.Query(ctx, pendingActions, sym, iv, *first, *oldest)
		if err != nil {
			return err
		}
		pending, err := pgx.CollectRows(rows, scanAction)
		if err != nil {
			return err
		}
		for _, p := range pending {
			r, applied, err := restateOne(ctx, q, series, p)
			if err != nil {
				return err
			}
			if applied {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// storedAction is a corporate_actions row.
type storedAction struct {
	id int64
	market.Action
}

func scanAction(row pgx.CollectableRow) (storedAction, error) {
	var a storedAction
	var kind string
	err := row.Scan(&a.id, &a.ExDate, &kind, &a.Numerator, &a.Denominator, &a.Amount, &a.Factor, &a.Source)
	a.Kind, a.ExDate = market.ActionKind(kind), a.ExDate.UTC()
	return a, err
}

// restateOne claims and applies one action to the series. It reports false
// when another transaction applied it first.
func restateOne(ctx context.Context, q querier, series market.Series, a storedAction) (Restatement, bool, error) {
	sym, iv := series.Symbol, string(series.Interval)
	a.Symbol = sym
	r := Restatement{Action: a.Action, Series: series}
	tag, err := q.Exec(ctx, claimRestatement, a.id, iv)
	if err != nil || tag.RowsAffected() == 0 {
		return r, false, err
	}
	stmt := restateSplit
	r.Factor = a.Ratio()
	if a.Kind != market.Split {
		stmt = restateDistribution
		r.Factor = a.Factor
		if r.Factor == 0 {
			var c float64
			switch err := q.QueryRow(ctx, closeBefore, sym, iv, a.ExDate).Scan(&c); {
			case errors.Is(err, pgx.ErrNoRows):
				return r, true, nil // nothing before the ex-date: seriesSpan's test makes this rare
			case err != nil:
				return r, false, err
			}
			r.Factor = 1 - a.Amount/c
			if !(r.Factor > 0) || math.IsInf(r.Factor, 0) {
				return r, false, fmt.Errorf("%s on %s: %w: the close before the ex-date is %g", a.Action, series, ErrBadFactor, c)
			}
		}
	}
	var first, last *time.Time
	if err := q.QueryRow(ctx, stmt, sym, iv, a.ExDate, r.Factor).Scan(&r.Bars, &first, &last); err != nil {
		return r, false, err
	}
	if first != nil {
		r.First, r.Last = first.UTC(), last.UTC()
	}
	if _, err := q.Exec(ctx, recordRestatement, a.id, iv, r.Bars, first, last, r.Factor); err != nil {
		return r, false, err
	}
	return r, true, nil
}
