package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// USExchange is the exchange an audit checks against Expectation.Expected;
// every other one against the days its own symbols have shown.
const USExchange = "US"

// Expectation is what a complete history holds (package history implements
// it): which exchange a symbol trades on, and the bars a US listing should
// have.
type Expectation interface {
	// Exchange names the exchange of symbol; USExchange for the NYSE
	// calendar.
	Exchange(symbol string) string
	// Expected returns, oldest first, the bar starts of iv in [from, to)
	// that a US listing should have.
	Expected(iv market.Interval, from, to time.Time) ([]time.Time, error)
	// Clamp cuts [from, to) to what Expected can answer for.
	Clamp(from, to time.Time) (time.Time, time.Time)
	// Audits is "" when series of iv can be audited, else why not.
	Audits(iv market.Interval) string
}

// AuditQuery says which series an audit looks at.
type AuditQuery struct {
	// Symbol and Interval restrict the audit to one symbol or interval;
	// empty: all.
	Symbol   string
	Interval market.Interval
	// From and To restrict it to bars starting in [From, To); zero: no
	// bound. Each series is audited between its first and its last stored
	// bar within them: the tail after the last stored bar is the
	// incremental collection's business, not a gap.
	From, To time.Time
	// Exact audits [From, To) of the one series Symbol/Interval whole, even
	// where nothing is stored (a repair's window), and lists its missing
	// bars. Symbol, Interval, From and To are required with it.
	Exact bool
	// ByMonth adds each series' coverage per calendar month (UTC).
	ByMonth bool
}

// SeriesAudit is what an audit found in one series.
type SeriesAudit struct {
	market.Series
	Exchange string
	// Unaudited says why the series was not audited (its interval, years
	// outside the calendar's); its counts are zero then.
	Unaudited string `json:",omitempty"`
	// First and Last bound the audited range (bar starts, inclusive).
	First, Last time.Time
	// Expected counts the bars the range should hold; Present those of
	// them stored, Holes those recorded as known holes, Missing the rest
	// (Expected = Present + Holes + Missing).
	Expected, Present, Holes, Missing int64
	// Stored counts the series' bars in the range, expected or not (a
	// source may have bars on days the calendar does not expect).
	Stored int64
	// Provisional counts the provisional bars in the range.
	Provisional int64
	// Gaps are the runs of missing bars, oldest first: consecutive
	// expected bars, a known hole ending a run.
	Gaps []Gap
	// Months is the coverage per month (AuditQuery.ByMonth), oldest first.
	Months []MonthCoverage
	// MissingBars are the starts of the missing bars, oldest first, for an
	// exact audit only.
	MissingBars []time.Time
}

// Gap is a run of consecutive expected bars that are missing.
type Gap struct {
	// First and Last are the starts of its first and last missing bar.
	First, Last time.Time
	// Bars is how many bars are missing.
	Bars int64
	// Before and After are the starts of the expected bars around the
	// gap (stored, or known holes); zero at the edge of the audited range.
	// A repair asks for them too: an answer that has them and lacks the
	// gap's bars is evidence that the source has no data for those.
	Before, After time.Time
}

// MonthCoverage is one series' coverage in one calendar month.
type MonthCoverage struct {
	Month                                 time.Time // first day, 00:00 UTC
	Expected, Present, Holes, Provisional int64
}

// auditTx makes an audit's own transaction one read-only snapshot;
// auditWorkMem gives it the work_mem its hash join and aggregate need to
// stay in memory.
var auditTx = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

const auditWorkMem = `SET LOCAL work_mem = '64MB'`

// auditSeries lists the series to audit with their stored range in
// [$3, $4): a loose index scan of the primary key (one probe per series,
// however many bars), then the first and last bar of each, also by index.
const auditSeries = `
WITH RECURSIVE s AS (
    (SELECT symbol, "interval" FROM bars ORDER BY symbol, "interval" LIMIT 1)
    UNION ALL
    SELECT n.symbol, n."interval" FROM s, LATERAL (
        SELECT b.symbol, b."interval" FROM bars b
        WHERE (b.symbol, b."interval") > (s.symbol, s."interval") ORDER BY b.symbol, b."interval" LIMIT 1) n
)
SELECT s.symbol, s."interval", r.first, r.last FROM s, LATERAL (SELECT
    (SELECT min(ts) FROM bars b WHERE b.symbol = s.symbol AND b."interval" = s."interval" AND b.ts >= $3 AND b.ts < $4) AS first,
    (SELECT max(ts) FROM bars b WHERE b.symbol = s.symbol AND b."interval" = s."interval" AND b.ts >= $3 AND b.ts < $4) AS last) r
WHERE ($1 = '' OR s.symbol = $1) AND ($2 = '' OR s."interval" = $2) AND r.first IS NOT NULL
ORDER BY 1, 2`

// exchangeDays lists the bar starts of interval $1 in [$3, $4] that any of
// the symbols $2 (an exchange's) has, by the primary key: what the exchange
// is expected to have traded.
const exchangeDays = `
SELECT DISTINCT ts FROM bars WHERE "interval" = $1 AND symbol = ANY($2::text[]) AND ts BETWEEN $3 AND $4 ORDER BY ts`

// allSymbols lists every symbol with bars by a loose index scan of the
// primary key: one probe per symbol.
const allSymbols = `
WITH RECURSIVE s(symbol) AS (
    (SELECT symbol FROM bars ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT b.symbol FROM bars b WHERE b.symbol > s.symbol ORDER BY b.symbol LIMIT 1)
    FROM s WHERE s.symbol IS NOT NULL
)
SELECT symbol FROM s WHERE symbol IS NOT NULL`

// presentBars is the audit's one pass over the bars of interval $1 of the
// symbols $2 in [$5, $6]: per symbol, how many are stored, and the
// positions ($4) among the expected bar starts ($3) of those that are
// expected. One hash join of the bars with the expected starts and one
// hash aggregate: no sort, whatever the history's size.
const presentBars = `
SELECT b.symbol, count(*), coalesce(array_agg(e.n) FILTER (WHERE e.n IS NOT NULL), '{}')
FROM bars b LEFT JOIN unnest($3::timestamptz[], $4::int4[]) AS e(ts, n) ON e.ts = b.ts
WHERE b."interval" = $1 AND b.symbol = ANY($2::text[]) AND b.ts BETWEEN $5 AND $6
GROUP BY b.symbol`

// auditMarks lists the known holes (kind 'h') and the provisional bars
// (kind 'p') of interval $1 of the symbols $2 in [$3, $4]: few rows, each
// from an index.
const auditMarks = `
SELECT 'h', symbol, ts FROM known_holes WHERE "interval" = $1 AND symbol = ANY($2::text[]) AND ts BETWEEN $3 AND $4
UNION ALL
SELECT 'p', symbol, ts FROM bars WHERE provisional_until IS NOT NULL AND "interval" = $1 AND symbol = ANY($2::text[]) AND ts BETWEEN $3 AND $4`

// Audit compares the stored bars of the series q selects with what exp
// says they should hold, in one read-only repeatable-read transaction (one
// snapshot) through the session, and returns one SeriesAudit per series,
// in symbol and interval order. The part of a US series outside the years
// exp can answer for is not audited; a series with nothing left, or of an
// interval exp does not audit, says so (Unaudited). Errors are wrapped
// "audit: ..." and marked with their outcome class (ErrInvalidAudit for a
// bad q).
func (s *Store) Audit(ctx context.Context, exp Expectation, q AuditQuery) ([]SeriesAudit, error) {
	var out []SeriesAudit
	err := s.inTxWith(ctx, auditTx, func(tx *Tx) (err error) {
		if err := tx.run(ctx, "audit", func(qr querier) error {
			_, err := qr.Exec(ctx, auditWorkMem)
			return err
		}); err != nil {
			return err
		}
		out, err = tx.Audit(ctx, exp, q)
		return err
	})
	return out, err
}

// Audit is (*Store).Audit inside the transaction, as it stands: it sees
// the transaction's own writes (a repair task audits its window after
// writing it).
func (t *Tx) Audit(ctx context.Context, exp Expectation, q AuditQuery) ([]SeriesAudit, error) {
	var out []SeriesAudit
	err := t.run(ctx, "audit", func(qr querier) (err error) {
		out, err = audit(ctx, qr, exp, q)
		return err
	})
	return out, err
}

// farPast and farFuture stand in for an unbounded end of a range.
var (
	farPast   = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func audit(ctx context.Context, q querier, exp Expectation, aq AuditQuery) ([]SeriesAudit, error) {
	if aq.Exact && (aq.Symbol == "" || aq.Interval == "" || aq.From.IsZero() || aq.To.IsZero()) {
		return nil, fmt.Errorf("%w: an exact audit needs a symbol, an interval and both ends", ErrInvalidAudit)
	}
	series, err := auditedSeries(ctx, q, aq)
	if err != nil || len(series) == 0 {
		return nil, err
	}
	// Audit each interval and exchange as one group: one list of expected
	// bar starts, one pass over their bars.
	type key struct {
		iv       market.Interval
		exchange string
	}
	groups := map[key][]*SeriesAudit{}
	var keys []key
	for i := range series {
		sa := &series[i]
		sa.Exchange = exp.Exchange(sa.Symbol)
		if sa.Unaudited = exp.Audits(sa.Interval); sa.Unaudited != "" {
			continue
		}
		if sa.Exchange == USExchange {
			lo, hi := exp.Clamp(sa.First, sa.Last.Add(time.Nanosecond))
			if !lo.Before(hi) {
				sa.Unaudited = fmt.Sprintf("its bars lie outside the years the NYSE calendar covers (%s to %s)",
					sa.First.Format(time.DateOnly), sa.Last.Format(time.DateOnly))
				continue
			}
			sa.First, sa.Last = lo, hi.Add(-time.Nanosecond)
		}
		k := key{sa.Interval, sa.Exchange}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], sa)
	}
	for _, k := range keys {
		g := auditGroup{series: groups[k], byMonth: aq.ByMonth, exact: aq.Exact}
		if err := g.run(ctx, q, exp); err != nil {
			return nil, fmt.Errorf("%s bars of %s: %w", k.iv, k.exchange, err)
		}
	}
	return series, nil
}

// auditedSeries lists the series aq selects with their stored range, or
// for an exact audit its one series and window.
func auditedSeries(ctx context.Context, q querier, aq AuditQuery) ([]SeriesAudit, error) {
	if aq.Exact {
		return []SeriesAudit{{Series: market.Series{Symbol: aq.Symbol, Interval: aq.Interval},
			First: aq.From.UTC(), Last: aq.To.Add(-time.Nanosecond).UTC()}}, nil
	}
	from, to := aq.From, aq.To
	if from.IsZero() {
		from = farPast
	}
	if to.IsZero() {
		to = farFuture
	}
	rows, err := q.Query(ctx, auditSeries, aq.Symbol, string(aq.Interval), from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SeriesAudit, error) {
		var a SeriesAudit
		var iv string
		err := row.Scan(&a.Symbol, &iv, &a.First, &a.Last)
		a.Interval, a.First, a.Last = market.Interval(iv), a.First.UTC(), a.Last.UTC()
		return a, err
	})
}

// exchangeStarts are the bar starts in [lo, hi] that any symbol of
// exchange has stored: the days it traded, as the source has shown them.
func exchangeStarts(ctx context.Context, q querier, exp Expectation, iv market.Interval, exchange string, lo, hi time.Time) ([]time.Time, error) {
	rows, err := q.Query(ctx, allSymbols)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var members []string
	for _, s := range all {
		if exp.Exchange(s) == exchange {
			members = append(members, s)
		}
	}
	rows, err = q.Query(ctx, exchangeDays, string(iv), members, lo, hi)
	if err != nil {
		return nil, err
	}
	ts, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	for i := range ts {
		ts[i] = ts[i].UTC()
	}
	return ts, err
}

// RecordHoles records the bars of s starting at ts as known holes of
// source: bars an audit expected, a repair asked the source for, and the
// source had no data for. A bar already recorded, or stored meanwhile, is
// skipped. It returns how many it recorded.
func (t *Tx) RecordHoles(ctx context.Context, s market.Series, ts []time.Time, source string) (int64, error) {
	if len(ts) == 0 {
		return 0, nil
	}
	var n int64
	err := t.run(ctx, "record known holes", func(q querier) error {
		tag, err := q.Exec(ctx, `INSERT INTO known_holes (symbol, "interval", ts, source)
			SELECT $1, $2, u.ts, $4 FROM unnest($3::timestamptz[]) AS u(ts)
			WHERE NOT EXISTS (SELECT 1 FROM bars b WHERE b.symbol = $1 AND b."interval" = $2 AND b.ts = u.ts)
			ON CONFLICT DO NOTHING`, s.Symbol, string(s.Interval), ts, source)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
