package store_test

import (
	"context"
	"testing"
	"time"

	"marketfleet/history"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/store"
)

// everyDay returns one daily bar of symbol per calendar day in [from, to),
// weekends and holidays included (as the synthetic source makes them).
func everyDay(symbol string, from, to time.Time) []market.Bar {
	var out []market.Bar
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		out = append(out, market.Bar{Symbol: symbol, Interval: market.Interval1d, TS: d,
			Open: 10, High: 12, Low: 9, Close: 11, Volume: 100, Source: "test"})
	}
	return out
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// without drops the bars starting at the given days.
func without(in []market.Bar, days ...time.Time) []market.Bar {
	var out []market.Bar
next:
	for _, b := range in {
		for _, d := range days {
			if b.TS.Equal(d) {
				continue next
			}
		}
		out = append(out, b)
	}
	return out
}

// TestAuditFindsExactlyTheMissingSessions: a US series missing a single
// day, a week and the day after a holiday shows exactly those gaps, never
// a weekend or a holiday; a known hole is not a gap; a series of another
// exchange is audited against the days its exchange's other symbols traded.
func TestAuditFindsExactlyTheMissingSessions(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	p := testenv.History(t)
	from, to := day(2024, 6, 1), day(2024, 8, 1)
	all := everyDay("AAPL", from, to)
	// Missing: Tue 2024-06-11; Mon 2024-07-08 to Fri 07-12 (a week);
	// Fri 2024-07-05, the day after Independence Day; and 2024-06-19
	// (Juneteenth, a holiday: not a gap) and a Sunday (not a gap).
	stored := without(all, day(2024, 6, 11), day(2024, 7, 5), day(2024, 7, 8), day(2024, 7, 9), day(2024, 7, 10),
		day(2024, 7, 11), day(2024, 7, 12), day(2024, 6, 19), day(2024, 6, 23))
	// Another exchange: VOD.L traded on the days of BP.L, less one.
	var london []market.Bar
	for _, b := range everyDay("BP.L", from, to) {
		if wd := b.TS.Weekday(); wd != time.Saturday && wd != time.Sunday {
			london = append(london, b)
		}
	}
	vod := make([]market.Bar, 0, len(london))
	for _, b := range without(london, day(2024, 6, 14)) {
		b.Symbol = "VOD.L"
		vod = append(vod, b)
	}
	for _, batch := range [][]market.Bar{stored, london, vod} {
		if _, err := s.WriteBars(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// A 60m series (keyed differently by each source) and a series of
	// 1999 (before the calendar's years) are listed, not audited.
	hourly := everyDay("AAPL", day(2024, 6, 3), day(2024, 6, 4))
	for i := range hourly {
		hourly[i].Interval = market.Interval60m
	}
	if _, err := s.WriteBars(ctx, append(hourly, everyDay("OLD", day(1999, 3, 1), day(1999, 4, 1))...)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Audit(ctx, p, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[1].Interval != market.Interval60m || got[1].Unaudited == "" || got[3].Symbol != "OLD" || got[3].Unaudited == "" {
		t.Fatalf("audited %d series, want 5, the 60m and 1999 ones unaudited: %+v", len(got), got)
	}
	aapl, bp, vodA := got[0], got[2], got[4]
	wantGaps := []store.Gap{{First: day(2024, 6, 11), Last: day(2024, 6, 11), Bars: 1},
		{First: day(2024, 7, 5), Last: day(2024, 7, 12), Bars: 6}}
	if aapl.Symbol != "AAPL" || !equalGaps(aapl.Gaps, wantGaps) {
		t.Fatalf("AAPL gaps = %+v, want %+v", aapl.Gaps, wantGaps)
	}
	// Around each gap, the expected bars a repair asks for too.
	if g := aapl.Gaps[0]; !g.Before.Equal(day(2024, 6, 10)) || !g.After.Equal(day(2024, 6, 12)) {
		t.Fatalf("AAPL's first gap lies between %s and %s, want June 10 and 12", g.Before, g.After)
	}
	if g := aapl.Gaps[1]; !g.Before.Equal(day(2024, 7, 3)) || !g.After.Equal(day(2024, 7, 15)) {
		t.Fatalf("AAPL's second gap lies between %s and %s, want July 3 and 15", g.Before, g.After)
	}
	// June and July 2024 hold 19 + 22 sessions, from June 3 (the first
	// stored bar is June 1, a Saturday) to July 31.
	if aapl.Expected != 41 || aapl.Missing != 7 || aapl.Present != 34 || aapl.Exchange != history.US {
		t.Fatalf("AAPL counts: %+v", aapl)
	}
	if bp.Symbol != "BP.L" || len(bp.Gaps) != 0 || bp.Missing != 0 || bp.Exchange != "L" {
		t.Fatalf("BP.L: %+v", bp)
	}
	if vodA.Symbol != "VOD.L" || !equalGaps(vodA.Gaps, []store.Gap{{First: day(2024, 6, 14), Last: day(2024, 6, 14), Bars: 1}}) {
		t.Fatalf("VOD.L: %+v", vodA)
	}

	// A known hole is no longer a gap.
	if _, err := admin.Exec(ctx, `INSERT INTO known_holes (symbol, "interval", ts, source) VALUES ('AAPL', '1d', $1, 'test')`,
		day(2024, 6, 11)); err != nil {
		t.Fatal(err)
	}
	got, err = s.Audit(ctx, p, store.AuditQuery{Symbol: "AAPL", Interval: market.Interval1d, ByMonth: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Holes != 1 || got[0].Missing != 6 || len(got[0].Gaps) != 1 || len(got[0].Months) != 2 {
		t.Fatalf("with a known hole: %+v", got)
	}
	if jul := got[0].Months[1]; !jul.Month.Equal(day(2024, 7, 1)) || jul.Expected != 22 || jul.Present != 16 {
		t.Fatalf("July coverage: %+v", jul)
	}

	// An exact audit of a window with nothing stored lists its missing bars.
	got, err = s.Audit(ctx, p, store.AuditQuery{Symbol: "AAPL", Interval: market.Interval1d, From: day(2024, 7, 5), To: day(2024, 7, 13), Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].MissingBars) != 6 || !got[0].MissingBars[0].Equal(day(2024, 7, 5)) {
		t.Fatalf("exact audit: %+v", got)
	}
}

func equalGaps(a, b []store.Gap) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].First.Equal(b[i].First) || !a[i].Last.Equal(b[i].Last) || a[i].Bars != b[i].Bars {
			return false
		}
	}
	return true
}

// RecordAudit keeps the repairs ledger: a gap found again after its repair
// was asked for is persisting; an audit of part of the history forgets no
// repair outside it; LastAudit tells the last audit of the whole history
// from the last of any scope.
func TestRecordAuditLedger(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	aapl := market.Series{Symbol: "AAPL", Interval: market.Interval1d}
	june := store.SeriesGap{Series: aapl, Gap: store.Gap{First: day(2024, 6, 11), Last: day(2024, 6, 11), Bars: 1}}
	july := store.SeriesGap{Series: aapl, Gap: store.Gap{First: day(2024, 7, 8), Last: day(2024, 7, 9), Bars: 2}}
	whole := []store.AuditedRange{{Series: aapl, First: day(2024, 6, 1), Last: day(2024, 7, 31)}}
	rec := store.AuditRecord{At: time.Now(), By: "test", Series: 1, Gaps: 2}
	if n, err := s.RecordAudit(ctx, rec, whole, []store.SeriesGap{june, july}, true, 0); err != nil || n != 0 {
		t.Fatalf("first audit: %d persisting, %v; want 0 (nothing was asked for before)", n, err)
	}
	// July only: June's repair is outside it and stays; July's gap is
	// found again after its repair (grace 0): persisting.
	rec.Scope = "from=2024-07-01"
	julyOnly := []store.AuditedRange{{Series: aapl, First: day(2024, 7, 1), Last: day(2024, 7, 31)}}
	if n, err := s.RecordAudit(ctx, rec, julyOnly, []store.SeriesGap{july}, false, 0); err != nil || n != 1 {
		t.Fatalf("July audit: %d persisting, %v; want 1", n, err)
	}
	if n, err := s.RecordAudit(ctx, store.AuditRecord{At: time.Now(), By: "test", Series: 1, Gaps: 1}, whole, []store.SeriesGap{june}, false, 0); err != nil || n != 1 {
		t.Fatalf("whole audit finding June's gap again: %d persisting, %v; want 1 (its repair survived the July audit)", n, err)
	}
	// July's gap is gone: its repair is forgotten; a long grace: nothing persists.
	if n, err := s.RecordAudit(ctx, store.AuditRecord{At: time.Now(), By: "test", Scope: "symbol=AAPL"}, whole, []store.SeriesGap{june}, false, time.Hour); err != nil || n != 0 {
		t.Fatalf("with an hour's grace: %d persisting, %v; want 0", n, err)
	}
	last, ok, err := s.LastAudit(ctx, true)
	if err != nil || !ok || last.Scope != "" || last.Persisting != 1 {
		t.Fatalf("last whole audit: %+v %v %v", last, ok, err)
	}
	if last, ok, err = s.LastAudit(ctx, false); err != nil || !ok || last.Scope != "symbol=AAPL" {
		t.Fatalf("last audit: %+v %v %v", last, ok, err)
	}
}
