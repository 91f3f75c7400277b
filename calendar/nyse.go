package calendar

import (
	"fmt"
	"time"
)

// nyseZone is the time zone NYSE session hours are stated in.
const nyseZone = "America/New_York"

// Session is one NYSE trading session.
type Session struct {
	// Date is the trading date, at 00:00 UTC of that calendar date.
	Date time.Time
	// Open is the instant the session opens (09:30 New York), in UTC.
	Open time.Time
	// Close is the instant the session closes, in UTC: 16:00 New York, or the
	// early close listed in the data file.
	Close time.Time
	// Early reports whether the session closes before 16:00 New York.
	Early bool
}

// NYSE is the New York Stock Exchange session calendar for the years its
// embedded data file covers. It is immutable and safe for concurrent use.
// The zero value is not usable; create one with NewNYSE.
type NYSE struct {
	loc  *time.Location
	data table
}

// NewNYSE loads the America/New_York time zone from the system's tzdata and
// parses the embedded session data file. It returns an error if the time
// zone cannot be loaded, or an error wrapping ErrInvalidData if the data file
// is malformed.
func NewNYSE() (*NYSE, error) {
	return newNYSE(nyseZone, nyseSessions)
}

// newNYSE is NewNYSE with the zone name and the data file text as arguments.
func newNYSE(zone, text string) (*NYSE, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("load time zone %s: %w", zone, err)
	}
	tb, err := parseTable(text)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dataFile, err)
	}
	return &NYSE{loc: loc, data: tb}, nil
}

// Covers returns the first and the last year, inclusive, that the data file
// lists completely. Methods return an error wrapping ErrNotCovered for any
// date outside them.
func (c *NYSE) Covers() (first, last int) {
	return c.data.first, c.data.last
}

// DateOf returns the New York calendar date of the instant t, at 00:00 UTC:
// the form Session.Date has and SessionOn and Sessions accept. It never fails,
// even for a year the calendar does not cover.
func (c *NYSE) DateOf(t time.Time) time.Time {
	return dayOf(t.In(c.loc)).utc()
}

// SessionOn returns the session held on the calendar date of date (its own
// Year, Month and Day; clock and location are ignored, so pass c.DateOf(t)
// for the New York date of an instant t). It reports false, with a nil
// error, on weekends and holidays. It returns an error wrapping ErrNotCovered
// if the date's year is not covered.
func (c *NYSE) SessionOn(date time.Time) (Session, bool, error) {
	return c.session(dayOf(date))
}

// IsOpen reports whether a regular session is in progress at the instant t:
// Open <= t < Close. It returns an error wrapping ErrNotCovered if t's New
// York date is not in a covered year.
func (c *NYSE) IsOpen(t time.Time) (bool, error) {
	s, ok, err := c.session(dayOf(t.In(c.loc)))
	if err != nil {
		return false, fmt.Errorf("is open at %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return ok && !t.Before(s.Open) && t.Before(s.Close), nil
}

// NextOpen returns the first session open strictly after the instant t, in
// UTC. At exactly an open it returns the next day's open; during a session it
// returns the next session's open, not the current one's. It returns an error
// wrapping ErrNotCovered if the search reaches a year that is not covered.
func (c *NYSE) NextOpen(t time.Time) (time.Time, error) {
	s, err := c.nextSession(t, func(s Session) time.Time { return s.Open })
	if err != nil {
		return time.Time{}, fmt.Errorf("next open after %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return s.Open, nil
}

// NextClose returns the first session close strictly after the instant t, in
// UTC: the current session's close while one is in progress, otherwise the
// next session's. It returns an error wrapping ErrNotCovered if the search
// reaches a year that is not covered.
func (c *NYSE) NextClose(t time.Time) (time.Time, error) {
	s, err := c.nextSession(t, func(s Session) time.Time { return s.Close })
	if err != nil {
		return time.Time{}, fmt.Errorf("next close after %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return s.Close, nil
}

// LastSession returns the most recent session whose close is at or before the
// instant t: the session an end-of-day run at t should collect. Before
// today's close it is the previous session. It returns an error wrapping
// ErrNotCovered if the search reaches a year that is not covered.
func (c *NYSE) LastSession(t time.Time) (Session, error) {
	for d := dayOf(t.In(c.loc)); ; d = d.add(-1) {
		s, ok, err := c.session(d)
		if err != nil {
			return Session{}, fmt.Errorf("last session before %s: %w", t.UTC().Format(time.RFC3339), err)
		}
		if ok && !s.Close.After(t) {
			return s, nil
		}
	}
}

// Sessions returns, in date order, the sessions whose date lies in
// [from, to], both read as calendar dates like SessionOn reads them. It
// returns an empty slice if from is after to, and an error wrapping
// ErrNotCovered if either year is not covered.
func (c *NYSE) Sessions(from, to time.Time) ([]Session, error) {
	first, last := dayOf(from), dayOf(to)
	for _, year := range []int{first.year, last.year} {
		if err := c.covered(year); err != nil {
			return nil, fmt.Errorf("sessions %s to %s: %w", first, last, err)
		}
	}
	out := []Session{}
	for d := first; !d.after(last); d = d.add(1) {
		s, ok, err := c.session(d)
		if err != nil {
			return nil, fmt.Errorf("sessions %s to %s: %w", first, last, err)
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// nextSession returns the first session, from t's New York date on, whose
// edge (its open or its close) is strictly after t.
func (c *NYSE) nextSession(t time.Time, edge func(Session) time.Time) (Session, error) {
	for d := dayOf(t.In(c.loc)); ; d = d.add(1) {
		s, ok, err := c.session(d)
		if err != nil {
			return Session{}, err
		}
		if ok && edge(s).After(t) {
			return s, nil
		}
	}
}

// session returns the session on d, false on weekends and holidays, or an
// error wrapping ErrNotCovered. Every search loop ends because the covered
// years are finite.
func (c *NYSE) session(d day) (Session, bool, error) {
	if err := c.covered(d.year); err != nil {
		return Session{}, false, err
	}
	if d.weekend() {
		return Session{}, false, nil
	}
	closeAt := regularClose
	if sp, ok := c.data.days[d]; ok {
		if sp.closed {
			return Session{}, false, nil
		}
		closeAt = sp.close
	}
	return Session{
		Date:  d.utc(),
		Open:  d.at(regularOpen, c.loc),
		Close: d.at(closeAt, c.loc),
		Early: closeAt < regularClose,
	}, true, nil
}

// covered returns nil if the data file lists year, or an error wrapping
// ErrNotCovered that names the year and the file to update.
func (c *NYSE) covered(year int) error {
	if year >= c.data.first && year <= c.data.last {
		return nil
	}
	return fmt.Errorf("%w: year %d is not in %s (it covers %d-%d); add that year's holidays and early closes from the NYSE calendar",
		ErrNotCovered, year, dataFile, c.data.first, c.data.last)
}
