package source

import (
	"errors"
	"strings"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/outcome"
)

func TestResponseCheck(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 6, d, 0, 0, 0, 0, time.UTC) }
	req := Request{Symbol: "AAPL", Interval: market.Interval1d, From: day(3), To: day(8)}
	bar := func(d int) market.Bar {
		return market.Bar{Symbol: "AAPL", Interval: market.Interval1d, TS: day(d), Open: 10, High: 11, Low: 9, Close: 10, Volume: 5}
	}
	asOf := day(20)
	if err := (Response{Bars: []market.Bar{bar(3), bar(4), bar(7)}, AsOf: asOf}).Check(req); err != nil {
		t.Fatalf("a good answer: %v", err)
	}
	other := bar(5)
	other.Symbol = "MSFT"
	high := bar(5)
	high.Low = 12
	for name, tc := range map[string]struct {
		bars []market.Bar
		want string
	}{
		"an impossible bar":        {[]market.Bar{bar(3), high}, "bar 2 of 2: invalid bar: AAPL 1d 2024-06-05T00:00:00Z: low 12 above high 11"},
		"a duplicate":              {[]market.Bar{bar(3), bar(4), bar(4)}, "bar 3 at 2024-06-04T00:00:00Z does not follow bar 2"},
		"out of order":             {[]market.Bar{bar(4), bar(3)}, "does not follow"},
		"another symbol's bar":     {[]market.Bar{bar(3), other}, "bar 2 is of MSFT/1d"},
		"a bar outside the window": {[]market.Bar{bar(3), bar(9)}, "outside the window"},
	} {
		err := Response{Bars: tc.bars, AsOf: asOf}.Check(req)
		if !errors.Is(err, ErrBadData) || outcome.Of(err) != outcome.BadData || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want bad_data saying %q", name, err, tc.want)
		}
	}
}
