package calendar

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// dataFile names the session data file in errors, from the module root, so
// that an operator knows which file to edit.
const dataFile = "calendar/nyse_sessions.txt"

// nyseSessions is the embedded session data file; see its header for the
// format and the source.
//
//go:embed nyse_sessions.txt
var nyseSessions string

// special is a day that is not a regular session: a holiday (closed) or an
// early close at the given New York time.
type special struct {
	closed bool
	close  clock
	name   string
}

// table is the parsed session data file: the covered years, inclusive, and
// the special days within them.
type table struct {
	first, last int
	days        map[day]special
}

// parseTable parses the session data file format described in
// nyse_sessions.txt. Text after '#' and blank lines are ignored. Every error
// wraps ErrInvalidData and names the offending line.
func parseTable(text string) (table, error) {
	tb := table{days: map[day]special{}}
	for i, raw := range strings.Split(text, "\n") {
		line, _, _ := strings.Cut(raw, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := tb.addLine(line); err != nil {
			return table{}, fmt.Errorf("%w: line %d: %w", ErrInvalidData, i+1, err)
		}
	}
	if tb.first == 0 {
		return table{}, fmt.Errorf("%w: no covers line", ErrInvalidData)
	}
	return tb, nil
}

// addLine adds one non-blank, comment-free line to tb.
func (tb *table) addLine(line string) error {
	head, rest := cutField(line)
	if head == "covers" {
		return tb.setCovers(rest)
	}
	if tb.first == 0 {
		return errors.New("the covers line must come before the first day")
	}
	d, sp, err := parseDay(head, rest)
	if err != nil {
		return err
	}
	if d.year < tb.first || d.year > tb.last {
		return fmt.Errorf("%s is outside the covered years %d-%d", d, tb.first, tb.last)
	}
	if _, dup := tb.days[d]; dup {
		return fmt.Errorf("%s is listed twice", d)
	}
	tb.days[d] = sp
	return nil
}

// setCovers parses the arguments of a "covers FIRST LAST" line.
func (tb *table) setCovers(args string) error {
	if tb.first != 0 {
		return errors.New("second covers line")
	}
	f := strings.Fields(args)
	if len(f) != 2 {
		return fmt.Errorf("want \"covers FIRST LAST\", got %d years", len(f))
	}
	first, err1 := strconv.Atoi(f[0])
	last, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || first < 1900 || last > 9999 || first > last {
		return fmt.Errorf("covers %s %s: want two years, FIRST <= LAST, from 1900 on", f[0], f[1])
	}
	tb.first, tb.last = first, last
	return nil
}

// parseDay parses "YYYY-MM-DD" and the rest of a day line, "closed NAME" or
// "close=HH:MM NAME".
func parseDay(date, rest string) (day, special, error) {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return day{}, special{}, fmt.Errorf("date %q: want YYYY-MM-DD, \"covers\" or a comment", date)
	}
	d := dayOf(t)
	if d.weekend() {
		return day{}, special{}, fmt.Errorf("%s is a %s: weekends are never sessions, do not list them", d, t.Weekday())
	}
	kind, name := cutField(rest)
	sp := special{name: name}
	if sp.name == "" {
		return day{}, special{}, fmt.Errorf("%s: want \"%s closed NAME\" or \"%s close=HH:MM NAME\"", d, d, d)
	}
	sp.closed = kind == "closed"
	if !sp.closed {
		if sp.close, err = parseEarlyClose(kind); err != nil {
			return day{}, special{}, fmt.Errorf("%s: %w", d, err)
		}
	}
	return d, sp, nil
}

// cutField splits s, trimmed, at its first run of white space.
func cutField(s string) (field, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// parseEarlyClose parses "close=HH:MM", a close strictly between the regular
// open and the regular close.
func parseEarlyClose(kind string) (clock, error) {
	hhmm, ok := strings.CutPrefix(kind, "close=")
	if !ok {
		return 0, fmt.Errorf("kind %q: want \"closed\" or \"close=HH:MM\"", kind)
	}
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return 0, fmt.Errorf("close time %q: want HH:MM, 24-hour New York time", hhmm)
	}
	c := clock(t.Hour()*60 + t.Minute())
	if c <= regularOpen || c >= regularClose {
		return 0, fmt.Errorf("close time %s: want after %s and before %s", c, regularOpen, regularClose)
	}
	return c, nil
}
