package history

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"marketfleet/calendar"
	"marketfleet/internal/config"
	"marketfleet/market"
)

// US is the exchange of symbols that follow the NYSE calendar.
const US = "US"

// DefaultSettleSessions is the default of Config.SettleSessions.
const DefaultSettleSessions = 2

// MaxSettleSessions bounds Config.SettleSessions.
const MaxSettleSessions = 20

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("history: invalid config")

// Config is a finality policy.
type Config struct {
	// Calendar is the NYSE calendar. Required.
	Calendar *calendar.NYSE
	// SettleSessions is how many sessions must close after a daily or
	// longer bar's last session before it is final: 0 to
	// MaxSettleSessions. Nil means DefaultSettleSessions.
	SettleSessions *int
	// SettleIntraday is how long after its end an intraday bar is final.
	// At least 0. Defaults to 0.
	SettleIntraday time.Duration
}

// Validate checks c's settings (New also requires a Calendar); the error
// wraps ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.SettleSessions != nil && (*c.SettleSessions < 0 || *c.SettleSessions > MaxSettleSessions):
		return config.Invalid(ErrInvalidConfig, "SettleSessions", *c.SettleSessions, "want 0 to %d", MaxSettleSessions)
	case c.SettleIntraday < 0:
		return config.Invalid(ErrInvalidConfig, "SettleIntraday", c.SettleIntraday, "want >= 0")
	}
	return nil
}

// Policy answers what a series' history should hold and when its bars are
// final.
type Policy struct {
	cal      *calendar.NYSE
	settle   int
	intraday time.Duration
}

// New returns the policy of cfg.
func New(cfg Config) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Calendar == nil {
		return nil, fmt.Errorf("%w: Calendar is required", ErrInvalidConfig)
	}
	settle := DefaultSettleSessions
	if cfg.SettleSessions != nil {
		settle = *cfg.SettleSessions
	}
	return &Policy{cal: cfg.Calendar, settle: settle, intraday: cfg.SettleIntraday}, nil
}

// Exchange is the exchange symbol trades on, as the package doc says: US,
// the suffix after the last dot, or FX, FUTURES or CRYPTO.
func Exchange(symbol string) string {
	switch {
	case strings.HasSuffix(symbol, "=X"):
		return "FX"
	case strings.HasSuffix(symbol, "=F"):
		return "FUTURES"
	}
	if i := strings.LastIndexByte(symbol, '.'); i > 0 && i < len(symbol)-1 {
		return symbol[i+1:]
	}
	// A class share has one letter after its dash (BRK-B); a pair, a
	// currency of three or more (BTC-USD).
	if i := strings.LastIndexByte(symbol, '-'); i > 0 && len(symbol)-i-1 >= 3 && !strings.HasPrefix(symbol, "^") {
		return "CRYPTO"
	}
	return US
}

// Settle is the number of sessions a daily bar settles for.
func (p *Policy) Settle() int { return p.settle }

// ProvisionalUntil is the zero time when the bar starting at ts, fetched at
// fetched, was final when fetched, and otherwise the instant from which a
// fetch returns its final values (FinalAt).
func (p *Policy) ProvisionalUntil(s market.Series, ts, fetched time.Time) time.Time {
	// Far enough in the past, no calendar is needed: N sessions never
	// span more than N+2 weeks.
	if fetched.After(s.Interval.Next(ts).Add(time.Duration(p.settle+3) * 7 * 24 * time.Hour)) {
		return time.Time{}
	}
	if final := p.FinalAt(s, ts); fetched.Before(final) {
		return final
	}
	return time.Time{}
}

// FinalAt is the instant from which the bar of s starting at ts is final
// (see the package doc).
func (p *Policy) FinalAt(s market.Series, ts time.Time) time.Time {
	ts = ts.UTC()
	end := s.Interval.Next(ts)
	if Exchange(s.Symbol) != US {
		return p.fallback(s.Interval, end)
	}
	if s.Interval.Intraday() {
		sess, ok, err := p.cal.SessionOn(p.cal.DateOf(ts))
		if err != nil {
			return p.fallback(s.Interval, end)
		}
		if ok && ts.Before(sess.Close) && sess.Close.Before(end) {
			end = sess.Close
		}
		return end.Add(p.intraday)
	}
	sessions, err := p.cal.Sessions(ts, end.Add(-time.Nanosecond))
	if err != nil {
		return p.fallback(s.Interval, end)
	}
	if len(sessions) == 0 {
		return end // no session, nothing to revise
	}
	last := sessions[len(sessions)-1]
	if p.settle == 0 {
		return last.Close
	}
	next := last.Date.AddDate(0, 0, 1)
	after, err := p.cal.Sessions(next, next.AddDate(0, 0, 7*(p.settle+2)))
	if err != nil || len(after) < p.settle {
		return p.fallback(s.Interval, end)
	}
	return after[p.settle-1].Close
}

// fallback is FinalAt without a calendar: 12 hours after the bar's end,
// plus SettleSessions weekdays for daily and longer bars.
func (p *Policy) fallback(iv market.Interval, end time.Time) time.Time {
	if iv.Intraday() {
		return end.Add(p.intraday)
	}
	t := end.Add(12 * time.Hour)
	for n := 0; n < p.settle; {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return t
}

// Expected returns, oldest first, the starts of the bars of iv in [from, to)
// that a US listing should have: every bar of the interval's grid that holds
// part of an NYSE session. It returns an error wrapping
// calendar.ErrNotCovered when the window reaches a year the calendar does
// not list.
func (p *Policy) Expected(iv market.Interval, from, to time.Time) ([]time.Time, error) {
	if !iv.Valid() {
		return nil, fmt.Errorf("expected bars: %w %q", market.ErrInvalidInterval, iv)
	}
	if !from.Before(to) {
		return nil, nil
	}
	// Intraday bars of a session start on its New York date; a daily
	// bar's key is its date, but a weekly or monthly bar can start up to
	// a quarter before its first session.
	lo, hi := from.AddDate(0, 0, -1), to.Add(-time.Nanosecond)
	if first, _ := p.cal.Covers(); lo.Year() < first && from.Year() >= first {
		lo = time.Date(first, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	sessions, err := p.cal.Sessions(lo, hi)
	if err != nil {
		return nil, fmt.Errorf("expected %s bars: %w", iv, err)
	}
	var out []time.Time
	add := func(t time.Time) {
		if t.Before(from) || !t.Before(to) {
			return
		}
		if n := len(out); n > 0 && !out[n-1].Before(t) {
			return
		}
		out = append(out, t)
	}
	for _, s := range sessions {
		if !iv.Intraday() {
			add(iv.Floor(s.Date))
			continue
		}
		for t := iv.Floor(s.Open); t.Before(s.Close); t = iv.Next(t) {
			add(t)
		}
	}
	return out, nil
}

// Covers reports the years the calendar lists: Expected refuses others.
func (p *Policy) Covers() (first, last int) { return p.cal.Covers() }

// Clamp returns [from, to) cut to the years the calendar covers.
func (p *Policy) Clamp(from, to time.Time) (time.Time, time.Time) {
	first, last := p.cal.Covers()
	lo := time.Date(first, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(last+1, 1, 1, 0, 0, 0, 0, time.UTC)
	if from.Before(lo) {
		from = lo
	}
	if to.After(hi) {
		to = hi
	}
	return from, to
}

// Exchange is the package's Exchange, as a method (store.Expectation).
func (p *Policy) Exchange(symbol string) string { return Exchange(symbol) }

// Audits is "" for the intervals whose bars an audit can expect: those
// keyed the same whoever stamps them (1m to 30m divide the 09:30 open;
// daily bars are keyed by their trading date). Yahoo stamps 60m and 90m
// bars from the session's open, and 5d, weekly and longer bars by a first
// trading date, where the synthetic source uses the interval's grid: for
// them it says why they are not audited.
func (p *Policy) Audits(iv market.Interval) string {
	switch iv {
	case market.Interval1m, market.Interval2m, market.Interval5m, market.Interval15m, market.Interval30m, market.Interval1d:
		return ""
	}
	return fmt.Sprintf("%s bars are keyed differently by each source (audit the 1d series, or 1m to 30m)", iv)
}
