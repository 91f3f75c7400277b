package yahoo

import (
	"time"
	_ "time/tzdata" // exchange time zones must resolve without system zoneinfo
)

// location is the exchange's time zone: the IANA zone named by the meta if
// it loads, else a fixed zone at meta.gmtoffset (UTC if absent).
func (m chartMeta) location() *time.Location {
	if m.ExchangeTimezoneName != "" {
		if loc, err := time.LoadLocation(m.ExchangeTimezoneName); err == nil {
			return loc
		}
	}
	return time.FixedZone(m.ExchangeTimezoneName, int(m.GMTOffset))
}

// tradingDate is the calendar date of Unix second ts in loc, as 00:00 UTC of
// that date.
func tradingDate(ts int64, loc *time.Location) time.Time {
	y, m, d := time.Unix(ts, 0).In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// onGrid floors ts onto the grid origin + k*step (step > 0), for any integer k.
func onGrid(ts, origin, step int64) int64 {
	off := (ts - origin) % step
	if off < 0 {
		off += step
	}
	return ts - off
}
