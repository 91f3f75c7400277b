package market

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func utc(y int, m time.Month, d, h, mi int) time.Time {
	return time.Date(y, m, d, h, mi, 0, 0, time.UTC)
}

func TestParseInterval(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Interval
		wantErr bool
	}{
		{"1m", Interval1m, false},
		{"90m", Interval90m, false},
		{"1d", Interval1d, false},
		{"3mo", Interval3mo, false},
		{"1h", Interval60m, false},
		{"", "", true},
		{"1H", "", true},
		{"2h", "", true},
		{"1y", "", true},
		{" 1d", "", true},
	} {
		got, err := ParseInterval(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseInterval(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil && (!errors.Is(err, ErrInvalidInterval) || !strings.Contains(err.Error(), "1m, 2m")) {
			t.Errorf("ParseInterval(%q) error %q: want ErrInvalidInterval listing the valid values", tc.in, err)
		}
	}
}

func TestIntervalProperties(t *testing.T) {
	for _, tc := range []struct {
		iv       Interval
		valid    bool
		step     time.Duration
		intraday bool
	}{
		{Interval1m, true, time.Minute, true},
		{Interval90m, true, 90 * time.Minute, true},
		{Interval1d, true, 24 * time.Hour, false},
		{Interval1wk, true, 7 * 24 * time.Hour, false},
		{Interval1mo, true, 31 * 24 * time.Hour, false},
		{"1h", false, 0, false},
		{"", false, 0, false},
	} {
		if tc.iv.Valid() != tc.valid || tc.iv.Step() != tc.step || tc.iv.Intraday() != tc.intraday {
			t.Errorf("%q: Valid %v Step %s Intraday %v", tc.iv, tc.iv.Valid(), tc.iv.Step(), tc.iv.Intraday())
		}
	}
}

func TestFloorNextCeil(t *testing.T) {
	for _, tc := range []struct {
		iv                Interval
		t                 time.Time
		floor, next, ceil time.Time
	}{
		{Interval1m, utc(2024, 3, 10, 15, 4).Add(5 * time.Second), utc(2024, 3, 10, 15, 4), utc(2024, 3, 10, 15, 5), utc(2024, 3, 10, 15, 5)},
		{Interval5m, utc(2024, 3, 10, 15, 5), utc(2024, 3, 10, 15, 5), utc(2024, 3, 10, 15, 10), utc(2024, 3, 10, 15, 5)},
		{Interval90m, utc(2024, 3, 10, 2, 0), utc(2024, 3, 10, 1, 30), utc(2024, 3, 10, 3, 0), utc(2024, 3, 10, 3, 0)},
		{Interval1d, utc(2024, 3, 10, 15, 4), utc(2024, 3, 10, 0, 0), utc(2024, 3, 11, 0, 0), utc(2024, 3, 11, 0, 0)},
		{Interval1d, utc(1969, 12, 31, 23, 0), utc(1969, 12, 31, 0, 0), utc(1970, 1, 1, 0, 0), utc(1970, 1, 1, 0, 0)},
		{Interval1wk, utc(2024, 3, 13, 9, 0), utc(2024, 3, 11, 0, 0), utc(2024, 3, 18, 0, 0), utc(2024, 3, 18, 0, 0)}, // Wed -> Mon
		{Interval1wk, utc(2024, 3, 11, 0, 0), utc(2024, 3, 11, 0, 0), utc(2024, 3, 18, 0, 0), utc(2024, 3, 11, 0, 0)},
		{Interval1mo, utc(2024, 1, 31, 12, 0), utc(2024, 1, 1, 0, 0), utc(2024, 2, 1, 0, 0), utc(2024, 2, 1, 0, 0)},
		{Interval3mo, utc(2024, 8, 15, 0, 0), utc(2024, 7, 1, 0, 0), utc(2024, 10, 1, 0, 0), utc(2024, 10, 1, 0, 0)},
		{Interval3mo, utc(2024, 12, 31, 23, 59), utc(2024, 10, 1, 0, 0), utc(2025, 1, 1, 0, 0), utc(2025, 1, 1, 0, 0)},
	} {
		f := tc.iv.Floor(tc.t)
		if !f.Equal(tc.floor) || f.Location() != time.UTC {
			t.Errorf("%s Floor(%s) = %s, want %s", tc.iv, tc.t, f, tc.floor)
		}
		if n := tc.iv.Next(f); !n.Equal(tc.next) {
			t.Errorf("%s Next(%s) = %s, want %s", tc.iv, f, n, tc.next)
		}
		if c := tc.iv.Ceil(tc.t); !c.Equal(tc.ceil) {
			t.Errorf("%s Ceil(%s) = %s, want %s", tc.iv, tc.t, c, tc.ceil)
		}
	}
}

func TestFloorIgnoresInputZone(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	in := time.Date(2024, 3, 11, 8, 0, 0, 0, tokyo) // 2024-03-10T23:00Z
	if got := Interval1d.Floor(in); !got.Equal(utc(2024, 3, 10, 0, 0)) {
		t.Errorf("Floor = %s, want 2024-03-10T00:00Z", got)
	}
}

func TestMaxBars(t *testing.T) {
	for _, tc := range []struct {
		iv       Interval
		from, to time.Time
		exact    int64 // the exact count: MaxBars must not be below it
	}{
		{Interval1d, utc(2024, 3, 10, 15, 4), utc(2024, 4, 9, 15, 4), 30},
		{Interval1m, utc(2024, 1, 1, 0, 0), utc(2024, 1, 1, 1, 0), 60},
		{Interval1mo, utc(2024, 1, 15, 0, 0), utc(2024, 5, 1, 0, 0), 3},
		{Interval1mo, utc(2024, 1, 1, 0, 0), utc(2024, 3, 2, 0, 0), 3},
		{Interval3mo, utc(2023, 11, 20, 0, 0), utc(2024, 10, 1, 0, 0), 3},
	} {
		if got := tc.iv.MaxBars(tc.from, tc.to); got < tc.exact {
			t.Errorf("%s MaxBars(%s, %s) = %d, below the exact %d", tc.iv, tc.from, tc.to, got, tc.exact)
		}
	}
	if got := Interval1d.MaxBars(utc(2024, 1, 2, 0, 0), utc(2024, 1, 1, 0, 0)); got != 0 {
		t.Errorf("MaxBars of an empty window = %d, want 0", got)
	}
	if got := Interval("2h").MaxBars(utc(2024, 1, 1, 0, 0), utc(2024, 1, 2, 0, 0)); got != 0 {
		t.Errorf("MaxBars of an invalid interval = %d, want 0", got)
	}
}

func TestValidateSymbol(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"AAPL", true},
		{"BRK-B", true},
		{"^GSPC", true},
		{"EURUSD=X", true},
		{"7203.T", true},
		{"GS2C.DE", true},
		{"0P0000XTS7", true},
		{"BTC-USD", true},
		{"^" + strings.Repeat("A", 23), true},
		{"", false},
		{"aapl", false},
		{"AA PL", false},
		{"-AAPL", false},
		{"^^GSPC", false},
		{"A/B", false},
		{"A?B", false},
		{strings.Repeat("A", 25), false},
	} {
		err := ValidateSymbol(tc.in)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidSymbol)) {
			t.Errorf("ValidateSymbol(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestBarKey(t *testing.T) {
	ts := time.Date(2024, 3, 11, 0, 0, 0, 123456789, time.UTC)
	a := Bar{Symbol: "AAPL", Interval: Interval1d, TS: ts, Close: 1}
	b := Bar{Symbol: "AAPL", Interval: Interval1d, TS: ts.In(time.FixedZone("X", 3600)).Add(200 * time.Nanosecond), Close: 2}
	if a.Key() != b.Key() {
		t.Errorf("keys differ: %+v vs %+v", a.Key(), b.Key())
	}
	if a.Key().TS != ts.UnixMicro() {
		t.Errorf("Key TS = %d, want Unix microseconds %d", a.Key().TS, ts.UnixMicro())
	}
	if c := (Bar{Symbol: "AAPL", Interval: Interval1wk, TS: ts}); c.Key() == a.Key() {
		t.Error("different intervals share a key")
	}
}
