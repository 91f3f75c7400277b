package schedule

import (
	"cmp"
	"fmt"
	"time"

	"marketfleet/calendar"
	"marketfleet/internal/config"
	"marketfleet/market"
	"marketfleet/tasks"
)

// Defaults and bounds of Config.
const (
	// DefaultLookback is the default of Config.Lookback.
	DefaultLookback = 5
	// MaxLookback bounds Config.Lookback.
	MaxLookback = 100
	// DefaultMaxEntries is the default of Config.MaxEntries.
	DefaultMaxEntries = 5000
	// DefaultEOD is the default of Config.EOD: 16:30 New York time.
	DefaultEOD = 16*time.Hour + 30*time.Minute
	// DefaultRequestedBy is the default of Config.RequestedBy.
	DefaultRequestedBy = "schedule"
)

// Config is what a Planner plans for. Every field but Entries (and Calendar
// with MarketHours) has a default, applied by WithDefaults.
type Config struct {
	// Entries is the universe: each symbol with the interval to collect it
	// at. Required; an entry listed twice is planned twice.
	Entries []market.UniverseEntry
	// MarketHours restricts intraday intervals to bars overlapping NYSE
	// regular sessions and moves daily and longer intervals to the
	// end-of-day run (see the package doc). Defaults to false: every
	// interval ticks on its grid around the clock.
	MarketHours bool
	// Calendar is the NYSE session calendar. Required with MarketHours,
	// unused without.
	Calendar *calendar.NYSE
	// EOD is the time of the end-of-day run, New York wall-clock time as a
	// duration after midnight, from 16:00 (the regular close) to 23:59.
	// Defaults to DefaultEOD (16:30).
	EOD time.Duration
	// Lookback is how many bars, ending with the bar that just closed, one
	// tick's window covers: 1 to MaxLookback. Defaults to DefaultLookback.
	Lookback int
	// MaxEntries caps the universe, hence the tasks of one tick. Defaults to
	// DefaultMaxEntries.
	MaxEntries int
	// RequestedBy is recorded in every task. Defaults to DefaultRequestedBy.
	RequestedBy string
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.EOD = cmp.Or(c.EOD, DefaultEOD)
	c.Lookback = cmp.Or(c.Lookback, DefaultLookback)
	c.MaxEntries = cmp.Or(c.MaxEntries, DefaultMaxEntries)
	c.RequestedBy = cmp.Or(c.RequestedBy, DefaultRequestedBy)
	return c
}

// Validate checks c (after WithDefaults); the error wraps ErrInvalidConfig
// (a *config.FieldError for a bad field, ErrTooManyEntries too for an
// oversized universe).
func (c Config) Validate() error {
	switch {
	case len(c.Entries) == 0:
		return fmt.Errorf("%w: Entries: no universe entries", ErrInvalidConfig)
	case c.MaxEntries < 1:
		return config.Invalid(ErrInvalidConfig, "MaxEntries", c.MaxEntries, "want at least 1")
	case len(c.Entries) > c.MaxEntries:
		return fmt.Errorf("%w: %w: %d entries, more than MaxEntries %d", ErrInvalidConfig, ErrTooManyEntries, len(c.Entries), c.MaxEntries)
	case c.Lookback < 1 || c.Lookback > MaxLookback:
		return config.Invalid(ErrInvalidConfig, "Lookback", c.Lookback, "want 1 to %d", MaxLookback)
	case c.EOD < 16*time.Hour || c.EOD >= 24*time.Hour:
		return config.Invalid(ErrInvalidConfig, "EOD", c.EOD, "want 16:00 to 23:59 New York time")
	case c.MarketHours && c.Calendar == nil:
		return fmt.Errorf("%w: Calendar: required with MarketHours", ErrInvalidConfig)
	}
	return nil
}

// Planner computes which collect tasks fall due when. It is immutable and
// safe for concurrent use; create one with New.
type Planner struct {
	cfg    Config
	groups []group
}

// group is the entries of one interval: they share every tick.
type group struct {
	iv      market.Interval
	symbols []string
	cad     cadence
}

// New returns a Planner for c after applying defaults. It returns an error
// wrapping ErrInvalidConfig that names the bad field, also wrapping
// ErrTooManyEntries when the universe is larger than MaxEntries, or
// tasks.ErrInvalid when RequestedBy would make invalid tasks (too long, or
// not printable).
func New(c Config) (*Planner, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &Planner{cfg: c}
	at := map[market.Interval]int{}
	for _, e := range c.Entries {
		i, ok := at[e.Interval]
		if !ok {
			i = len(p.groups)
			at[e.Interval] = i
			p.groups = append(p.groups, group{iv: e.Interval, cad: c.cadence(e.Interval)})
		}
		p.groups[i].symbols = append(p.groups[i].symbols, e.Symbol)
	}
	// One probe task per interval refuses a bad RequestedBy at start rather
	// than at the first tick.
	probe := time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)
	for _, g := range p.groups {
		if _, err := p.tasksOf(g, p.tick(g, probe, probe)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	return p, nil
}

// cadence returns how bars of iv tick under c.
func (c Config) cadence(iv market.Interval) cadence {
	switch {
	case !c.MarketHours:
		return grid{iv: iv}
	case iv.Intraday():
		return sessionBars{iv: iv, cal: c.Calendar}
	}
	return endOfDay{iv: iv, cal: c.Calendar, eod: c.EOD}
}

// Tick is one bar close of one interval: the instant it fell due and the
// window it makes due for every entry of that interval.
type Tick struct {
	// Interval is the bar interval of the entries the tick is for.
	Interval market.Interval
	// At is when the tick falls due, in UTC: the bar's close on its grid, or
	// the end-of-day run. Tasks carry it as RequestedAt.
	At time.Time
	// From and To bound the window [From, To), in UTC: the last Lookback
	// bars, ending with the bar that closed.
	From, To time.Time
}

// Plan is the ticks Due found and the tasks they make due.
type Plan struct {
	// Ticks are the ticks due, at most one per interval, in the order the
	// intervals first appear in the universe.
	Ticks []Tick
	// Tasks are the validated collect tasks of Ticks: per tick, one per
	// entry of its interval, in universe order.
	Tasks []tasks.Task
}

// Due returns, for each interval, its latest tick in (after, now], if any,
// with the tasks it makes due. Ticks at or before after are assumed
// published: a caller that keeps after = the previous now publishes every
// tick once; one that passes now minus the stream's duplicate window after a
// restart republishes only ticks the stream still de-duplicates. When
// several ticks of one interval lie in (after, now] only the latest is
// returned, its window overlapping the others'. Due returns calendar errors,
// wrapping calendar.ErrNotCovered when a needed date's year is not covered;
// each names the interval.
func (p *Planner) Due(after, now time.Time) (Plan, error) {
	var plan Plan
	for _, g := range p.groups {
		at, end, ok, err := g.cad.latest(after, now)
		if err != nil {
			return Plan{}, fmt.Errorf("%s bars: latest tick at %s: %w", g.iv, stamp(now), err)
		}
		if !ok {
			continue
		}
		tk := p.tick(g, at, end)
		ts, err := p.tasksOf(g, tk)
		if err != nil {
			return Plan{}, err
		}
		plan.Ticks = append(plan.Ticks, tk)
		plan.Tasks = append(plan.Tasks, ts...)
	}
	return plan, nil
}

// Next returns the earliest tick of any interval strictly after now, in
// UTC. It returns calendar errors, wrapping calendar.ErrNotCovered when the
// search reaches a year that is not covered (on the last session of the
// data file, say), and an error when no tick lies within 200 days; each
// names the interval.
func (p *Planner) Next(now time.Time) (time.Time, error) {
	var next time.Time
	for _, g := range p.groups {
		n, err := g.cad.next(now)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s bars: next tick after %s: %w", g.iv, stamp(now), err)
		}
		if next.IsZero() || n.Before(next) {
			next = n
		}
	}
	return next.UTC(), nil
}

// tick is g's tick at at, closing the bar that ends at end.
func (p *Planner) tick(g group, at, end time.Time) Tick {
	from := end
	for range p.cfg.Lookback {
		from = g.iv.Floor(from.Add(-time.Nanosecond))
	}
	return Tick{Interval: g.iv, At: at.UTC(), From: from, To: end.UTC()}
}

// tasksOf returns the validated tasks tk makes due for g's symbols.
func (p *Planner) tasksOf(g group, tk Tick) ([]tasks.Task, error) {
	ts := make([]tasks.Task, 0, len(g.symbols))
	for _, sym := range g.symbols {
		t := tasks.NewCollect(sym, g.iv, tk.From, tk.To, p.cfg.RequestedBy, tk.At)
		// The window bounds how far back a series with no stored bars (or a
		// gap) is filled; a worker starts at the last stored bar.
		t.Incremental = true
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%s %s: %w", sym, g.iv, err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
