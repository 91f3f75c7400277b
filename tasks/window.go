package tasks

import (
	"regexp"
	"strconv"
	"time"

	"marketfleet/market"
)

// DefaultRange is the window a request covers when it names neither a range
// nor dates.
const DefaultRange = "1mo"

var rangeRE = regexp.MustCompile(`^([1-9][0-9]{0,4})(d|wk|mo|y)$`)

// ResolveWindow turns a request's window into absolute bounds [from, to).
// Either rng is set ("5d", "2wk", "1mo", "1y", "ytd", "max") or dates are
// (fromS and optionally toS, each "2006-01-02" at 00:00 UTC or RFC 3339);
// neither means DefaultRange. An open end is the end of the bar containing
// now, so a relative range asked twice within one bar resolves to the same
// window, hence the same message id. Errors wrap ErrInvalid and name the
// field ("range", "from", "to").
func ResolveWindow(iv market.Interval, rng, fromS, toS string, now time.Time) (from, to time.Time, err error) {
	if rng != "" && (fromS != "" || toS != "") {
		return from, to, invalid("range", "give a range or from/to dates, not both")
	}
	to = iv.Next(iv.Floor(now))
	if toS != "" {
		if to, err = parseTime("to", toS); err != nil {
			return from, to, err
		}
	}
	if fromS != "" {
		from, err = parseTime("from", fromS)
		return from, to, err
	}
	if toS != "" {
		return from, to, invalid("from", "missing: --to needs --from")
	}
	if rng == "" {
		rng = DefaultRange
	}
	from, err = rangeStart(rng, to)
	return from, to, err
}

func rangeStart(rng string, to time.Time) (time.Time, error) {
	switch rng {
	case "ytd":
		return time.Date(to.Add(-time.Nanosecond).Year(), 1, 1, 0, 0, 0, 0, time.UTC), nil
	case "max":
		return time.Unix(0, 0).UTC(), nil
	}
	m := rangeRE.FindStringSubmatch(rng)
	if m == nil {
		return time.Time{}, invalid("range", "%q: want N followed by d, wk, mo or y (e.g. 5d, 1mo, 2y), ytd or max", rng)
	}
	n, _ := strconv.Atoi(m[1])
	switch m[2] {
	case "d":
		return to.AddDate(0, 0, -n), nil
	case "wk":
		return to.AddDate(0, 0, -7*n), nil
	case "mo":
		return to.AddDate(0, -n, 0), nil
	}
	return to.AddDate(-n, 0, 0), nil
}

func parseTime(field, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, invalid(field, "%q: want a date (2024-01-31) or an RFC 3339 time (2024-01-31T15:04:05Z)", s)
	}
	return t.UTC(), nil
}
