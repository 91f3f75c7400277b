package synthetic

import (
	"context"
	"math"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/source"
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// Before its ex-date an action changes nothing and is not reported; after
// it, the bars before the ex-date are divided by a split's ratio (volume
// multiplied), their adjusted closes scaled by a dividend's factor
// 1 - amount / the close of the bar before the ex-date, bars from the
// ex-date on are unchanged, and the actions of the window are reported,
// the dividend in post-split units.
func TestActionsAdjustAnswersAsOfTheClock(t *testing.T) {
	divEx, splitEx := date(2024, 6, 3), date(2024, 6, 10)
	req := source.Request{Symbol: "ACT", Interval: market.Interval1d, From: date(2024, 5, 1), To: date(2024, 6, 20)}
	raw, err := (&Source{}).Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	closeBefore := raw.Bars[len(raw.Bars)-1].Close // any positive amount below the closes will do
	for _, b := range raw.Bars {
		closeBefore = math.Min(closeBefore, b.Close)
	}
	amount := closeBefore / 50
	actions := []market.Action{
		{Symbol: "ACT", ExDate: splitEx, Kind: market.Split, Numerator: 5, Denominator: 1},
		{Symbol: "ACT", ExDate: divEx, Kind: market.Dividend, Amount: amount},
		{Symbol: "OTHER", ExDate: divEx, Kind: market.Split, Numerator: 2, Denominator: 1},
	}
	before, _ := New(Config{Actions: actions, Now: fixedClock(divEx.Add(-time.Hour))})
	after, _ := New(Config{Actions: actions, Now: fixedClock(date(2024, 6, 25))})
	b, err := before.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Actions) != 0 || !b.AsOf.Equal(divEx.Add(-time.Hour)) {
		t.Fatalf("before the ex-dates: actions %v as of %s, want none as of the clock", b.Actions, b.AsOf)
	}
	for i := range b.Bars {
		if err := sameBits(b.Bars[i], raw.Bars[i]); err != nil {
			t.Fatalf("before the ex-dates, bar %d differs from the unadjusted one: %v", i, err)
		}
	}
	a, err := after.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Actions) != 2 || a.Actions[0].Kind != market.Dividend || a.Actions[1].Kind != market.Split ||
		a.Actions[0].Amount != amount/5 || a.Actions[0].Source != Name {
		t.Fatalf("reported %+v, want the dividend (amount %g, post-split) then the split", a.Actions, amount/5)
	}
	prev := raw.Bars[slicesIndex(raw.Bars, divEx)-1].Close
	factor := 1 - amount/prev
	for i, r := range raw.Bars {
		got := a.Bars[i]
		ratio, f := 1.0, 1.0
		if r.TS.Before(splitEx) {
			ratio = 5
		}
		if r.TS.Before(divEx) {
			f = factor
		}
		if got.Close != r.Close/ratio || got.Open != r.Open/ratio || got.Volume != int64(math.Round(float64(r.Volume)*ratio)) ||
			math.Abs(*got.AdjClose-r.Close/ratio*f) > 1e-12*got.Close || !got.AsOf.Equal(a.AsOf) {
			t.Fatalf("bar %s = %+v, want the unadjusted one divided by %g, adjusted close scaled by %g", r.TS.Format(time.DateOnly), got, ratio, f)
		}
	}
}

func slicesIndex(bars []market.Bar, ts time.Time) int {
	for i, b := range bars {
		if b.TS.Equal(ts) {
			return i
		}
	}
	return -1
}
