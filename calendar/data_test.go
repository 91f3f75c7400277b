package calendar

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTable(t *testing.T) {
	const valid = "# comment\n\ncovers 2026 2026\n2026-11-26\tclosed   Thanksgiving Day  # trailing comment\n2026-11-27 close=13:00 Day after Thanksgiving\n"
	tb, err := parseTable(valid)
	if err != nil {
		t.Fatalf("parseTable(valid): %v", err)
	}
	want := map[day]special{
		{2026, time.November, 26}: {closed: true, name: "Thanksgiving Day"},
		{2026, time.November, 27}: {close: 13 * 60, name: "Day after Thanksgiving"},
	}
	if tb.first != 2026 || tb.last != 2026 || len(tb.days) != len(want) {
		t.Fatalf("parseTable(valid) = %+v, want covers 2026-2026 and %v", tb, want)
	}
	for d, sp := range want {
		if tb.days[d] != sp {
			t.Errorf("day %s = %+v, want %+v", d, tb.days[d], sp)
		}
	}
}

func TestParseTableErrors(t *testing.T) {
	const covers = "covers 2026 2026\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "no covers line"},
		{"only comments", "# nothing\n", "no covers line"},
		{"day before covers", "2026-11-26 closed Thanksgiving Day\n" + covers, "line 1: the covers line must come before"},
		{"two covers lines", covers + covers, "line 2: second covers line"},
		{"covers one year", "covers 2026\n", "line 1: want \"covers FIRST LAST\""},
		{"covers backwards", "covers 2027 2026\n", "line 1: covers 2027 2026: want two years"},
		{"covers not a year", "covers 2026 next\n", "line 1: covers 2026 next"},
		{"bad date", covers + "2026-11-31 closed Nonsense\n", "line 2: date \"2026-11-31\""},
		{"short date", covers + "2026-1-19 closed MLK\n", "line 2: date \"2026-1-19\""},
		{"unknown directive", covers + "holiday 2026-11-26\n", "line 2: date \"holiday\""},
		{"misspelled kind", covers + "2026-11-26 clsoed Thanksgiving Day\n", "line 2: 2026-11-26: kind \"clsoed\""},
		{"no name", covers + "2026-11-26 closed\n", "line 2: 2026-11-26: want \"2026-11-26 closed NAME\""},
		{"no kind", covers + "2026-11-26\n", "line 2: 2026-11-26: want"},
		{"bad close time", covers + "2026-11-27 close=1pm Day after Thanksgiving\n", "line 2: 2026-11-27: close time \"1pm\""},
		{"close before open", covers + "2026-11-27 close=09:00 Day after Thanksgiving\n", "close time 09:00: want after 09:30 and before 16:00"},
		{"close at regular close", covers + "2026-11-27 close=16:00 Day after Thanksgiving\n", "close time 16:00: want after 09:30"},
		{"weekend", covers + "2026-11-28 closed Saturday\n", "line 2: 2026-11-28 is a Saturday"},
		{"outside covers", covers + "2027-11-25 closed Thanksgiving Day\n", "line 2: 2027-11-25 is outside the covered years 2026-2026"},
		{"duplicate", covers + "2026-11-26 closed Thanksgiving Day\n\n2026-11-26 close=13:00 Again\n", "line 4: 2026-11-26 is listed twice"},
	} {
		_, err := parseTable(tc.text)
		if !errors.Is(err, ErrInvalidData) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: parseTable error %v, want ErrInvalidData containing %q", tc.name, err, tc.want)
		}
	}
}

func TestNewNYSEBadData(t *testing.T) {
	_, err := newNYSE(nyseZone, "covers 2026 2026\n2026-11-26 clsoed Thanksgiving Day\n")
	if !errors.Is(err, ErrInvalidData) || !strings.Contains(err.Error(), "load calendar/nyse_sessions.txt: invalid session data: line 2:") {
		t.Errorf("newNYSE with bad data: error %v, want one naming the file and the line", err)
	}
}
