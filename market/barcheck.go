package market

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrInvalidBar is wrapped by Bar.Validate's errors.
var ErrInvalidBar = errors.New("invalid bar")

// MaxPrice bounds every price: a larger one is a corrupt value, not a
// quote (the dearest listed share trades near 1e6; a crypto pair quoted in
// a weak currency near 1e10).
const MaxPrice = 1e12

// maxZoneAhead is how far east of UTC an exchange's day may start: a daily
// bar keyed by its trading date may lie this far ahead of UTC's.
const maxZoneAhead = 14 * time.Hour

// PricesMayBeNonPositive reports whether symbol's prices may be zero or
// negative: futures (=F) can trade below zero (crude oil did in 2020);
// shares, funds, indices, currencies and crypto-currencies cannot.
func PricesMayBeNonPositive(symbol string) bool { return strings.HasSuffix(symbol, "=F") }

// Validate checks that b is a possible bar as of asOf (when the source
// answered): finite prices below MaxPrice, positive unless
// PricesMayBeNonPositive, low <= open, close <= high, a finite adjusted
// close, a non-negative volume, and a start no later than the bar in
// progress at asOf (for daily and longer bars, in the easternmost time
// zone). The error wraps ErrInvalidBar and names the bar and the value.
func (b Bar) Validate(asOf time.Time) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %s %s: %s", ErrInvalidBar, b.Symbol, b.Interval, b.TS.UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	positive := !PricesMayBeNonPositive(b.Symbol)
	for _, p := range []struct {
		name string
		v    float64
	}{{"open", b.Open}, {"high", b.High}, {"low", b.Low}, {"close", b.Close}} {
		switch {
		case math.IsNaN(p.v) || math.IsInf(p.v, 0) || math.Abs(p.v) >= MaxPrice:
			return bad("%s %g is not a price", p.name, p.v)
		case positive && p.v <= 0:
			return bad("%s %g is not positive", p.name, p.v)
		}
	}
	if b.AdjClose != nil {
		if a := *b.AdjClose; math.IsNaN(a) || math.IsInf(a, 0) || math.Abs(a) >= MaxPrice || (positive && a <= 0) {
			return bad("adjusted close %g is not a price", a)
		}
	}
	switch {
	case b.Low > b.High:
		return bad("low %g above high %g", b.Low, b.High)
	case b.Open < b.Low || b.Open > b.High:
		return bad("open %g outside low %g..high %g", b.Open, b.Low, b.High)
	case b.Close < b.Low || b.Close > b.High:
		return bad("close %g outside low %g..high %g", b.Close, b.Low, b.High)
	case b.Volume < 0:
		return bad("volume %d is negative", b.Volume)
	}
	latest := asOf
	if !b.Interval.Intraday() {
		latest = asOf.Add(maxZoneAhead)
	}
	if b.TS.After(b.Interval.Floor(latest)) {
		return bad("it starts after the bar in progress at %s", asOf.UTC().Format(time.RFC3339))
	}
	return nil
}
