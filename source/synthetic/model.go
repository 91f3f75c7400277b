package synthetic

import (
	"math"
	"time"

	"marketfleet/market"
)

// Model parameters. Volatilities are in log-price units per sqrt(day).
const (
	secondsPerDay = 86400
	minBase       = 10.0   // lowest base price
	maxBase       = 1000.0 // highest base price
	minVolume     = 1e5    // lowest base daily volume
	volumeSpread  = 100.0  // base daily volume is in [minVolume, minVolume*volumeSpread)
	walkVol       = 0.006  // amplitude of the price walk per sqrt(day) of octave period
	edgeVol       = 0.002  // noise of open and close around the walk
	wickVol       = 0.01   // reach of high and low beyond the body
)

// Hash domain tags: each derived quantity hashes a distinct tag so that no
// two quantities are correlated.
const (
	tagBase uint64 = iota + 1
	tagVolume
	tagOpen
	tagClose
	tagHigh
	tagLow
	tagBarVolume
	tagOctave // tagOctave+k for octave k; keep last
)

// octavePeriods are the lattice spacings, in seconds, of the value-noise
// octaves that make up the price walk: from one hour to 4096 days, each four
// times the previous.
var octavePeriods = [...]int64{
	3600, 4 * 3600, secondsPerDay, 4 * secondsPerDay, 16 * secondsPerDay,
	64 * secondsPerDay, 256 * secondsPerDay, 1024 * secondsPerDay, 4096 * secondsPerDay,
}

// model holds the per-request hashed constants of one (symbol, interval).
type model struct {
	symbol   string
	interval market.Interval
	seed     uint64  // hash of the symbol: drives the walk, shared by intervals
	ivSeed   uint64  // hash of symbol and interval: drives per-bar noise
	logBase  float64 // log of the base price
	volume   float64 // base daily volume
}

func newModel(symbol string, iv market.Interval) model {
	seed := fnv1a(symbol)
	return model{
		symbol:   symbol,
		interval: iv,
		seed:     seed,
		ivSeed:   mix(seed, fnv1a(string(iv))),
		logBase:  math.Log(minBase) + unit(mix(seed, tagBase))*(math.Log(maxBase)-math.Log(minBase)),
		volume:   minVolume * math.Pow(volumeSpread, unit(mix(seed, tagVolume))),
	}
}

// bar returns the bar that starts at start and ends at end (the next start).
func (m model) bar(start, end time.Time) market.Bar {
	ts, te := start.Unix(), end.Unix()
	days := float64(te-ts) / secondsPerDay
	scale := math.Sqrt(days)
	k := mix(m.ivSeed, uint64(ts))

	open := math.Exp(m.logPrice(ts) + edgeVol*scale*signed(mix(k, tagOpen)))
	closeP := math.Exp(m.logPrice(te) + edgeVol*scale*signed(mix(k, tagClose)))
	high := math.Max(open, closeP) * math.Exp(wickVol*scale*unit(mix(k, tagHigh)))
	low := math.Min(open, closeP) * math.Exp(-wickVol*scale*unit(mix(k, tagLow)))
	adj := closeP
	return market.Bar{
		Symbol:   m.symbol,
		Interval: m.interval,
		TS:       start.UTC(),
		Open:     open,
		High:     high,
		Low:      low,
		Close:    closeP,
		AdjClose: &adj,
		Volume:   int64(m.volume * days * (0.5 + unit(mix(k, tagBarVolume)))),
		Source:   Name,
	}
}

// logPrice is the log of the walk price at Unix second t: the base plus the
// octaves of value noise. It depends on the symbol and t only.
func (m model) logPrice(t int64) float64 {
	p := m.logBase
	for i, period := range octavePeriods {
		amp := walkVol * math.Sqrt(float64(period)/secondsPerDay)
		p += amp * valueNoise(mix(m.seed, tagOctave+uint64(i)), t, period)
	}
	return p
}

// valueNoise interpolates, with a smoothstep, between hashed values in
// [-1, 1) placed every period seconds. It is continuous in t.
func valueNoise(seed uint64, t, period int64) float64 {
	i := floorDiv(t, period)
	f := float64(t-i*period) / float64(period)
	a := signed(mix(seed, uint64(i)))
	b := signed(mix(seed, uint64(i+1)))
	s := f * f * (3 - 2*f)
	return a + (b-a)*s
}

// floorDiv is a / b rounded towards negative infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
