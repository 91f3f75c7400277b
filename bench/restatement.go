package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"marketfleet/market"
	"marketfleet/source"
	"marketfleet/source/synthetic"
	"marketfleet/store"
)

// restatementRate is what one restatement of one series cost through one
// session (store.Tx.Restate, the restate task's transaction).
type restatementRate struct {
	Series     string        `json:"series"` // what was restated
	Action     string        `json:"action"` // split or dividend
	Bars       int64         `json:"bars"`
	Took       time.Duration `json:"took_ns"`
	BarsPerSec float64       `json:"bars_per_sec"`
}

// restatementSeries are the histories measured: ten years of daily bars
// (the synthetic calendar has every day), and one year of 1-minute bars (252
// sessions of 390 minutes).
var restatementSeries = []struct {
	name string
	bars func(ctx context.Context) ([]market.Bar, error)
}{
	{"10y of 1d", func(ctx context.Context) ([]market.Bar, error) {
		return source.Bars(ctx, &synthetic.Source{}, source.Request{Symbol: "RSTD", Interval: market.Interval1d,
			From: day0, To: day0.AddDate(10, 0, 0)})
	}},
	{"1y of 1m", func(ctx context.Context) ([]market.Bar, error) {
		var out []market.Bar
		for d := day0; len(out) < 252*390; d = d.AddDate(0, 0, 1) {
			if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
				continue
			}
			open := d.Add(14*time.Hour + 30*time.Minute)
			bars, err := source.Bars(ctx, &synthetic.Source{}, source.Request{Symbol: "RSTM", Interval: market.Interval1m,
				From: open, To: open.Add(390 * time.Minute)})
			if err != nil {
				return nil, err
			}
			out = append(out, bars...)
		}
		return out, nil
	}},
}

// restatementRates restates each series, in a fresh database, by a split
// and then by a dividend dated after its last bar, each in one transaction,
// and reports the bars changed per second.
func (e *env) restatementRates(ctx context.Context) ([]restatementRate, error) {
	var out []restatementRate
	for _, rs := range restatementSeries {
		fmt.Fprintf(os.Stderr, "bench: restatement, %s\n", rs.name)
		bars, err := rs.bars(ctx)
		if err != nil {
			return nil, err
		}
		dbURL, drop, err := e.freshDatabase(ctx, "bench_restatement")
		if err != nil {
			return nil, err
		}
		rates, err := restate(ctx, dbURL, rs.name, bars)
		drop()
		if err != nil {
			return nil, fmt.Errorf("restatement %s: %w", rs.name, err)
		}
		out = append(out, rates...)
	}
	return out, nil
}

// restate stores bars as of long before, records a 2:1 split and a
// dividend dated after the last bar, and times one Restate of the series
// for each.
func restate(ctx context.Context, dbURL, name string, bars []market.Bar) ([]restatementRate, error) {
	db, err := store.Open(ctx, dbURL, store.Config{ApplicationName: ceilApp})
	if err != nil {
		return nil, err
	}
	defer db.Close(context.WithoutCancel(ctx))
	if _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	for i := range bars {
		bars[i].AsOf = day0
	}
	for i := 0; i < len(bars); i += 10_000 {
		if _, err := db.WriteBars(ctx, bars[i:min(i+10_000, len(bars))]); err != nil {
			return nil, err
		}
	}
	last := bars[len(bars)-1]
	ex := last.TS.Truncate(24*time.Hour).AddDate(0, 0, 2)
	series := last.Series()
	var out []restatementRate
	for i, a := range []market.Action{
		{Symbol: last.Symbol, ExDate: ex, Kind: market.Split, Numerator: 2, Denominator: 1, Source: "bench"},
		{Symbol: last.Symbol, ExDate: ex.AddDate(0, 0, 1), Kind: market.Dividend, Amount: last.Close / 100, Source: "bench"},
	} {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.RecordActions(ctx, []market.Action{a})
			return err
		})
		if err != nil {
			return nil, err
		}
		var done []store.Restatement
		start := time.Now()
		err = db.InTx(ctx, func(tx *store.Tx) (err error) {
			done, err = tx.Restate(ctx, series)
			return err
		})
		took := time.Since(start)
		if err != nil {
			return nil, err
		}
		if len(done) != 1 || done[0].Bars != int64(len(bars)) {
			return nil, fmt.Errorf("action %d restated %+v, want all %d bars", i, done, len(bars))
		}
		out = append(out, restatementRate{Series: name, Action: string(a.Kind), Bars: done[0].Bars, Took: took,
			BarsPerSec: float64(done[0].Bars) / took.Seconds()})
	}
	return out, nil
}
