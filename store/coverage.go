package store

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"marketfleet/market"
)

// auditGroup is the series of one interval and exchange.
type auditGroup struct {
	series         []*SeriesAudit
	byMonth, exact bool
	// expected are the group's expected bar starts, oldest first.
	expected []time.Time
}

// span is the earliest first and the latest last bar of the group.
func (g *auditGroup) span() (lo, hi time.Time) {
	for i, sa := range g.series {
		if i == 0 || sa.First.Before(lo) {
			lo = sa.First
		}
		if i == 0 || sa.Last.After(hi) {
			hi = sa.Last
		}
	}
	return lo, hi
}

func (g *auditGroup) symbols() []string {
	out := make([]string, len(g.series))
	for i, sa := range g.series {
		out[i] = sa.Symbol
	}
	return out
}

// run fills the group's series in: the expected starts, the present ones
// (one pass over the bars), the known holes and provisional bars, then
// counts, gaps and months, in Go, position by position.
func (g *auditGroup) run(ctx context.Context, q querier, exp Expectation) error {
	iv, exchange := g.series[0].Interval, g.series[0].Exchange
	lo, hi := g.span()
	var err error
	if exchange == USExchange {
		g.expected, err = exp.Expected(iv, lo, hi.Add(time.Nanosecond))
	} else {
		g.expected, err = exchangeStarts(ctx, q, exp, iv, exchange, lo, hi)
	}
	if err != nil {
		return err
	}
	pos := make([]int32, len(g.expected))
	for i := range pos {
		pos[i] = int32(i)
	}
	present := map[string][]int32{}
	rows, err := q.Query(ctx, presentBars, string(iv), g.symbols(), g.expected, pos, lo, hi)
	if err != nil {
		return err
	}
	stored := map[string]int64{}
	var sym string
	var n int64
	var ns []int32
	if _, err := pgx.ForEachRow(rows, []any{&sym, &n, &ns}, func() error {
		stored[sym], present[sym] = n, slices.Clone(ns)
		return nil
	}); err != nil {
		return err
	}
	holes, provisional, err := g.marks(ctx, q, iv, lo, hi)
	if err != nil {
		return err
	}
	for _, sa := range g.series {
		sa.Stored = stored[sa.Symbol]
		g.fill(sa, present[sa.Symbol], holes[sa.Symbol], provisional[sa.Symbol])
	}
	return nil
}

// marks are the group's known holes and provisional bars, by symbol.
func (g *auditGroup) marks(ctx context.Context, q querier, iv market.Interval, lo, hi time.Time) (holes, provisional map[string][]time.Time, err error) {
	holes, provisional = map[string][]time.Time{}, map[string][]time.Time{}
	rows, err := q.Query(ctx, auditMarks, string(iv), g.symbols(), lo, hi)
	if err != nil {
		return nil, nil, err
	}
	var kind, sym string
	var ts time.Time
	_, err = pgx.ForEachRow(rows, []any{&kind, &sym, &ts}, func() error {
		if kind == "h" {
			holes[sym] = append(holes[sym], ts.UTC())
		} else {
			provisional[sym] = append(provisional[sym], ts.UTC())
		}
		return nil
	})
	return holes, provisional, err
}

// Position states of one series' expected bars.
const (
	missing byte = iota
	present
	hole
)

// fill counts one series from the positions of its present expected bars,
// finds its gaps and, if asked, its months.
func (g *auditGroup) fill(sa *SeriesAudit, presentAt []int32, holes, provisional []time.Time) {
	first, state := g.states(sa, presentAt, holes)
	if state == nil {
		return
	}
	sa.Expected, sa.Provisional = int64(len(state)), int64(len(provisional))
	at := func(i int) time.Time { return g.expected[first+i] }
	run := -1 // start of the current run of missing bars
	for i, st := range state {
		switch st {
		case present:
			sa.Present++
		case hole:
			sa.Holes++
		default:
			sa.Missing++
			if g.exact {
				sa.MissingBars = append(sa.MissingBars, at(i))
			}
			if run < 0 {
				run = i
			}
		}
		if run < 0 || (st == missing && i < len(state)-1) {
			continue
		}
		end := i - 1 // the run ends before this bar, or with it at the range's end
		if st == missing {
			end = i
		}
		gap := Gap{First: at(run), Last: at(end), Bars: int64(end - run + 1)}
		if run > 0 {
			gap.Before = at(run - 1)
		}
		if end < len(state)-1 {
			gap.After = at(end + 1)
		}
		sa.Gaps = append(sa.Gaps, gap)
		run = -1
	}
	if g.byMonth {
		sa.Months = g.months(first, state, provisional)
	}
}

// states marks each expected position in [sa.First, sa.Last] present,
// known hole or missing, and returns the first position; nil when the
// range holds no expected bar.
func (g *auditGroup) states(sa *SeriesAudit, presentAt []int32, holes []time.Time) (int, []byte) {
	first, _ := slices.BinarySearchFunc(g.expected, sa.First, time.Time.Compare)
	last, found := slices.BinarySearchFunc(g.expected, sa.Last, time.Time.Compare)
	if !found {
		last-- // the last expected start before sa.Last
	}
	if last < first {
		return first, nil
	}
	state := make([]byte, last-first+1)
	for _, n := range presentAt {
		if int(n) >= first && int(n) <= last {
			state[int(n)-first] = present
		}
	}
	for _, h := range holes {
		if i, ok := slices.BinarySearchFunc(g.expected, h, time.Time.Compare); ok && i >= first && i <= last && state[i-first] == missing {
			state[i-first] = hole
		}
	}
	return first, state
}

// months is the coverage per calendar month of the positions from first.
func (g *auditGroup) months(first int, state []byte, provisional []time.Time) []MonthCoverage {
	byMonth := map[time.Time]*MonthCoverage{}
	var out []MonthCoverage
	for i, st := range state {
		m := monthOf(g.expected[first+i])
		mc := byMonth[m]
		if mc == nil {
			mc = &MonthCoverage{Month: m}
			byMonth[m] = mc
		}
		mc.Expected++
		switch st {
		case present:
			mc.Present++
		case hole:
			mc.Holes++
		}
	}
	for _, p := range provisional {
		if mc := byMonth[monthOf(p)]; mc != nil {
			mc.Provisional++
		}
	}
	for _, mc := range byMonth {
		out = append(out, *mc)
	}
	slices.SortFunc(out, func(a, b MonthCoverage) int { return a.Month.Compare(b.Month) })
	return out
}

func monthOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
