package market

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestBarValidate(t *testing.T) {
	asOf := time.Date(2024, 6, 12, 15, 0, 0, 0, time.UTC)
	good := func() Bar {
		adj := 10.5
		return Bar{Symbol: "AAPL", Interval: Interval1d, TS: time.Date(2024, 6, 11, 0, 0, 0, 0, time.UTC),
			Open: 10, High: 12, Low: 9, Close: 11, AdjClose: &adj, Volume: 100}
	}
	if err := good().Validate(asOf); err != nil {
		t.Fatalf("a good bar: %v", err)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(*Bar)
	}{
		{"negative price", "open -1 is not positive", func(b *Bar) { b.Open = -1 }},
		{"zero close", "close 0 is not positive", func(b *Bar) { b.Close = 0 }},
		{"NaN", "high NaN is not a price", func(b *Bar) { b.High = math.NaN() }},
		{"1e308", "open 1e+308 is not a price", func(b *Bar) { b.Open = 1e308 }},
		{"infinite adjusted close", "adjusted close +Inf", func(b *Bar) { *b.AdjClose = math.Inf(1) }},
		{"high below low", "low 9 above high 8", func(b *Bar) { b.High, b.Open, b.Close = 8, 8, 8 }},
		{"open above high", "open 13 outside", func(b *Bar) { b.Open = 13 }},
		{"close below low", "close 8 outside", func(b *Bar) { b.Close = 8 }},
		{"negative volume", "volume -1", func(b *Bar) { b.Volume = -1 }},
		{"years ahead", "starts after the bar in progress", func(b *Bar) { b.TS = b.TS.AddDate(3, 0, 0) }},
		{"an intraday bar not begun", "starts after the bar in progress", func(b *Bar) {
			b.Interval, b.TS = Interval5m, asOf.Add(5*time.Minute)
		}},
	} {
		b := good()
		tc.edit(&b)
		err := b.Validate(asOf)
		if !errors.Is(err, ErrInvalidBar) || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidBar saying %q", tc.name, err, tc.want)
		}
	}
	// Today's daily bar of an exchange east of UTC (Tokyo's June 13 while
	// it is June 12 15:00 in London) and the bar in progress are fine; so
	// is a negative future price.
	for _, edit := range []func(*Bar){
		func(b *Bar) { b.TS = time.Date(2024, 6, 13, 0, 0, 0, 0, time.UTC); b.Symbol = "7203.T" },
		func(b *Bar) { b.Interval, b.TS = Interval5m, asOf.Add(-2*time.Minute).Truncate(5*time.Minute) },
		func(b *Bar) { b.Symbol, b.Open, b.Low, b.Close, *b.AdjClose = "CL=F", -37, -40, -37, -37 },
	} {
		b := good()
		edit(&b)
		if err := b.Validate(asOf); err != nil {
			t.Errorf("%+v: %v, want valid", b, err)
		}
	}
}
