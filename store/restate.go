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
	// adjusted closes multiplied by (a distribution: its factor, or
	// 1 - amount / the close of the series' last bar before the ex-date).
	Factor float64
	// Refused says why the action was not applied (then Bars is 0).
	Refused string
}

// The statements of a restatement; $1 symbol, $2 interval, $3 the bar
// boundary (the ex-date; for an intraday series the effective instant),
// $4 the effective instant. A bar is restated when it starts before the
// boundary and is as of an instant before the action took effect (see
// migrations 0004 and 0005); as_of is kept (a legacy row's stand-in, updated_at, is
// copied into it first).
// What applying an action does to a bar's values, $5 being its factor: the
// one definition Restate and reapply share.
const (
	splitValues = `open = open / $5, high = high / $5, low = low / $5, close = close / $5,
        adj_close = adj_close / $5, volume = round(volume::numeric * $5::numeric)::bigint`
	distributionValues = `adj_close = adj_close * $5`
)

const (
	seriesSpan = `SELECT min(ts), min(coalesce(as_of, updated_at)) FROM bars WHERE symbol = $1 AND "interval" = $2`

	pendingActions = `
SELECT id, ex_date, effective_at, kind, coalesce(numerator, 0), coalesce(denominator, 0), coalesce(amount, 0),
       coalesce(factor, 0), source
FROM corporate_actions a
WHERE symbol = $1 AND greatest(ex_date, effective_at) > $3 AND effective_at > $4
  AND NOT EXISTS (SELECT 1 FROM restatements r WHERE r.action_id = a.id AND r."interval" = $2)
ORDER BY kind <> 'split', ex_date, kind`

	claimRestatement = `INSERT INTO restatements (action_id, "interval") VALUES ($1, $2) ON CONFLICT DO NOTHING`

	recordRestatement = `UPDATE restatements SET bars_changed = $3, first_changed = $4, last_changed = $5, factor = $6,
    refused = $7 WHERE action_id = $1 AND "interval" = $2`

	closeBefore = `SELECT close FROM bars WHERE symbol = $1 AND "interval" = $2 AND ts < $3 ORDER BY ts DESC LIMIT 1`

	restateSplit = `
WITH up AS (
    UPDATE bars SET ` + splitValues + `, as_of = coalesce(as_of, updated_at), updated_at = now()
    WHERE symbol = $1 AND "interval" = $2 AND ts < $3 AND coalesce(as_of, updated_at) < $4
    RETURNING ts)
SELECT count(*), min(ts), max(ts) FROM up`

	restateDistribution = `
WITH up AS (
    UPDATE bars SET ` + distributionValues + `, as_of = coalesce(as_of, updated_at), updated_at = now()
    WHERE symbol = $1 AND "interval" = $2 AND ts < $3 AND coalesce(as_of, updated_at) < $4
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
// A distribution not below that close is not applied: its restatement is
// recorded as refused (Restatement.Refused says why),
// the series' bars are left as they were, and the other actions go on.
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
	err := row.Scan(&a.id, &a.ExDate, &a.EffectiveAt, &kind, &a.Numerator, &a.Denominator, &a.Amount, &a.Factor, &a.Source)
	a.Kind, a.ExDate, a.EffectiveAt = market.ActionKind(kind), a.ExDate.UTC(), a.EffectiveAt.UTC()
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
	boundary := a.Boundary(series.Interval)
	stmt := restateSplit
	r.Factor = a.Ratio()
	if a.Kind != market.Split {
		stmt = restateDistribution
		r.Factor = a.Factor
		if r.Factor == 0 {
			var c float64
			switch err := q.QueryRow(ctx, closeBefore, sym, iv, boundary).Scan(&c); {
			case errors.Is(err, pgx.ErrNoRows):
				return r, true, record(ctx, q, a.id, r) // nothing before the ex-date: seriesSpan's test makes this rare
			case err != nil:
				return r, false, err
			}
			r.Factor = 1 - a.Amount/c
			if !(r.Factor > 0) || math.IsInf(r.Factor, 0) {
				r.Factor = 0
				r.Refused = fmt.Sprintf("%s: the close before the ex-date is %g", badFactor, c)
				return r, true, record(ctx, q, a.id, r)
			}
		}
	}
	var first, last *time.Time
	if err := q.QueryRow(ctx, stmt, sym, iv, boundary, a.Effective(), r.Factor).Scan(&r.Bars, &first, &last); err != nil {
		return r, false, err
	}
	if first != nil {
		r.First, r.Last = first.UTC(), last.UTC()
	}
	return r, true, record(ctx, q, a.id, r)
}

// badFactor is why a distribution is refused.
const badFactor = "the distribution is not below the close before its ex-date"

// record writes what a claimed restatement did into its row.
func record(ctx context.Context, q querier, actionID int64, r Restatement) error {
	var first, last, factor, refused any
	if r.Bars > 0 {
		first, last = r.First, r.Last
	}
	if r.Factor != 0 {
		factor = r.Factor
	}
	if r.Refused != "" {
		refused = r.Refused
	}
	_, err := q.Exec(ctx, recordRestatement, actionID, string(r.Series.Interval), r.Bars, first, last, factor, refused)
	return err
}

// Statements that bring bars just written up to date with the actions
// already applied to their series (see reapply). $1 symbols, $2 intervals,
// $3 the bars' as-of instants.
const (
	owedActions = `
SELECT u.s, u.i, u.asof, a.ex_date, a.effective_at, a.kind, r.factor
FROM (SELECT DISTINCT s, i, asof FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS x(s, i, asof)) u
JOIN corporate_actions a ON a.symbol = u.s AND a.effective_at > u.asof
JOIN restatements r ON r.action_id = a.id AND r."interval" = u.i AND r.factor IS NOT NULL
ORDER BY a.kind <> 'split', a.ex_date`

	reapplySplit = `UPDATE bars SET ` + splitValues + `
WHERE symbol = $1 AND "interval" = $2 AND ts < $3 AND as_of = $4`

	reapplyDistribution = `UPDATE bars SET ` + distributionValues + `
WHERE symbol = $1 AND "interval" = $2 AND ts < $3 AND as_of = $4 AND adj_close IS NOT NULL`
)

// reapply applies to the bars just written (c) every action their series
// has already been restated for that took effect after they are as of. Such
// bars come from an answer fetched before the action took effect and
// written after the restatement (a write replayed on a new session after
// another worker restated the series meanwhile): without this they would
// keep the old units under a ledger that says the action is applied. One
// round trip finds none in the common case.
func reapply(ctx context.Context, q querier, c columns) error {
	rows, err := q.Query(ctx, owedActions, c.symbol, c.interval, c.asOf)
	if err != nil {
		return err
	}
	type owed struct {
		series market.Series
		asOf   time.Time
		action market.Action
		factor float64
	}
	var todo []owed
	var o owed
	var iv, kind string
	_, err = pgx.ForEachRow(rows, []any{&o.series.Symbol, &iv, &o.asOf, &o.action.ExDate, &o.action.EffectiveAt, &kind, &o.factor}, func() error {
		o.series.Interval, o.action.Kind = market.Interval(iv), market.ActionKind(kind)
		todo = append(todo, o)
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range todo {
		stmt := reapplySplit
		if o.action.Kind != market.Split {
			stmt = reapplyDistribution
		}
		if _, err := q.Exec(ctx, stmt, o.series.Symbol, string(o.series.Interval), o.action.Boundary(o.series.Interval), o.asOf, o.factor); err != nil {
			return err
		}
	}
	return nil
}
