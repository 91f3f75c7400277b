package calendar

import (
	"fmt"
	"time"
)

// day is a calendar date with no clock and no location.
type day struct {
	year  int
	month time.Month
	dom   int
}

// dayOf returns the calendar date of t as read in t's own location.
func dayOf(t time.Time) day {
	y, m, d := t.Date()
	return day{year: y, month: m, dom: d}
}

// utc returns d at 00:00 UTC, the form Session.Date carries.
func (d day) utc() time.Time {
	return time.Date(d.year, d.month, d.dom, 0, 0, 0, 0, time.UTC)
}

// add returns the date n days after d (before it if n is negative).
func (d day) add(n int) day {
	return dayOf(time.Date(d.year, d.month, d.dom+n, 0, 0, 0, 0, time.UTC))
}

// after reports whether d is later than e.
func (d day) after(e day) bool {
	return d.utc().After(e.utc())
}

// weekend reports whether d is a Saturday or a Sunday.
func (d day) weekend() bool {
	wd := d.utc().Weekday()
	return wd == time.Saturday || wd == time.Sunday
}

// at returns the instant, in UTC, at which the clocks in loc read c on d.
func (d day) at(c clock, loc *time.Location) time.Time {
	return time.Date(d.year, d.month, d.dom, c.hour(), c.minute(), 0, 0, loc).UTC()
}

// String formats d as YYYY-MM-DD.
func (d day) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.year, int(d.month), d.dom)
}

// clock is a wall-clock time of day in minutes after midnight.
type clock int

// Regular NYSE session hours, New York time.
const (
	regularOpen  clock = 9*60 + 30
	regularClose clock = 16 * 60
)

func (c clock) hour() int   { return int(c) / 60 }
func (c clock) minute() int { return int(c) % 60 }

// String formats c as HH:MM.
func (c clock) String() string {
	return fmt.Sprintf("%02d:%02d", c.hour(), c.minute())
}
