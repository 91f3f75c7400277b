package schedule

import (
	"fmt"
	"time"

	"marketfleet/calendar"
	"marketfleet/market"
)

// maxScanDays bounds the calendar searches: a 3mo bar spans at most 92 days,
// and no NYSE closure has lasted a week since 1933.
const maxScanDays = 200

// regularOpen is the NYSE regular open, New York time after midnight.
const regularOpen = 9*time.Hour + 30*time.Minute

// cadence is when the bars of one interval tick.
type cadence interface {
	// latest returns the latest tick in (after, now] and the end of the bar
	// it closes; ok is false if there is none.
	latest(after, now time.Time) (at, end time.Time, ok bool, err error)
	// next returns the earliest tick strictly after now.
	next(now time.Time) (time.Time, error)
}

// grid ticks at every bar boundary of iv, around the clock.
type grid struct{ iv market.Interval }

func (g grid) latest(after, now time.Time) (time.Time, time.Time, bool, error) {
	at := g.iv.Floor(now)
	return at, at, at.After(after), nil
}

func (g grid) next(now time.Time) (time.Time, error) {
	return g.iv.Next(g.iv.Floor(now)), nil
}

// sessionBars ticks at the boundaries of iv that close a bar overlapping an
// NYSE regular session: from the first boundary after the open to the first
// at or after the close.
type sessionBars struct {
	iv  market.Interval
	cal *calendar.NYSE
}

// ticks returns the first and the last tick of session s. Both lie on s's
// New York date: the last is at most 90 minutes after a 16:00 close.
func (c sessionBars) ticks(s calendar.Session) (first, last time.Time) {
	return c.iv.Next(c.iv.Floor(s.Open)), c.iv.Ceil(s.Close)
}

func (c sessionBars) latest(after, now time.Time) (time.Time, time.Time, bool, error) {
	var at time.Time
	found, err := scanBack(c.cal, after, now, func(s calendar.Session) (bool, error) {
		first, last := c.ticks(s)
		if first.After(now) {
			return false, nil
		}
		at = minTime(c.iv.Floor(now), last)
		return true, nil
	})
	return at, at, found && at.After(after), err
}

func (c sessionBars) next(now time.Time) (time.Time, error) {
	var at time.Time
	err := scanForward(c.cal, now, func(s calendar.Session) (bool, error) {
		first, last := c.ticks(s)
		at = maxTime(first, c.iv.Next(c.iv.Floor(now)))
		return !at.After(last), nil
	})
	return at, err
}

// endOfDay ticks at eod New York time of the last session of each bar of a
// daily or longer interval iv.
type endOfDay struct {
	iv  market.Interval
	cal *calendar.NYSE
	eod time.Duration
}

// at is the end-of-day run of s. Open is 09:30 New York time; clocks change
// on Sundays at 02:00, never between a session's open and its EOD run.
func (c endOfDay) at(s calendar.Session) time.Time {
	return s.Open.Add(c.eod - regularOpen)
}

// barEnd is the end of the bar of iv that holds s's date.
func (c endOfDay) barEnd(s calendar.Session) time.Time {
	return c.iv.Next(c.iv.Floor(s.Date))
}

// closesBar reports whether s is the last session of its bar.
func (c endOfDay) closesBar(s calendar.Session) (bool, error) {
	end := c.barEnd(s)
	for d := s.Date.AddDate(0, 0, 1); d.Before(end); d = d.AddDate(0, 0, 1) {
		_, ok, err := c.cal.SessionOn(d)
		if err != nil || ok {
			return false, err
		}
	}
	return true, nil
}

func (c endOfDay) latest(after, now time.Time) (time.Time, time.Time, bool, error) {
	var at, end time.Time
	found, err := scanBack(c.cal, after, now, func(s calendar.Session) (bool, error) {
		if c.at(s).After(now) {
			return false, nil
		}
		at, end = c.at(s), c.barEnd(s)
		return c.closesBar(s)
	})
	return at, end, found && at.After(after), err
}

func (c endOfDay) next(now time.Time) (time.Time, error) {
	var at time.Time
	err := scanForward(c.cal, now, func(s calendar.Session) (bool, error) {
		if at = c.at(s); !at.After(now) {
			return false, nil
		}
		return c.closesBar(s)
	})
	return at, err
}

// scanBack calls match for each session from now's New York date back to
// after's (ticks lie on their session's date), at most maxScanDays, and
// reports whether match accepted one.
func scanBack(cal *calendar.NYSE, after, now time.Time, match func(calendar.Session) (bool, error)) (bool, error) {
	stop := cal.DateOf(after)
	d := cal.DateOf(now)
	for i := 0; i < maxScanDays && !d.Before(stop); i, d = i+1, d.AddDate(0, 0, -1) {
		s, ok, err := cal.SessionOn(d)
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		if found, err := match(s); err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// scanForward calls match for each session from now's New York date on
// until it accepts one, and fails after maxScanDays.
func scanForward(cal *calendar.NYSE, now time.Time, match func(calendar.Session) (bool, error)) error {
	d := cal.DateOf(now)
	for range maxScanDays {
		s, ok, err := cal.SessionOn(d)
		if err != nil {
			return err
		}
		if ok {
			if found, err := match(s); err != nil || found {
				return err
			}
		}
		d = d.AddDate(0, 0, 1)
	}
	return fmt.Errorf("no tick within %d days", maxScanDays)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
