package requests_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/requests"
	"marketfleet/tasks"
)

// now is a Wednesday afternoon: the daily bar in progress ends at midnight.
var now = time.Date(2024, 3, 6, 15, 4, 5, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseBuildsOneTaskPerDistinctSymbol(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		symbols    []string
		iv         market.Interval
		from, to   time.Time
		prio       tasks.Priority
		by         string
	}{
		{"range, defaults", `{"symbols":["AAPL","MSFT"],"range":"5d"}`,
			[]string{"AAPL", "MSFT"}, market.Interval1d, day(2024, 3, 2), day(2024, 3, 7), tasks.PriorityHigh, "nats-request"},
		{"dates, lower case and repeats", `{"symbols":["brk-b","AAPL","BRK-B"],"interval":"1wk","from":"2024-01-01","to":"2024-02-01","requested_by":"alice"}`,
			[]string{"BRK-B", "AAPL"}, market.Interval1wk, day(2024, 1, 1), day(2024, 2, 1), tasks.PriorityHigh, "alice"},
		{"from only ends with the current bar", `{"symbols":["^GSPC"],"interval":"1h","from":"2024-03-06T10:00:00Z"}`,
			[]string{"^GSPC"}, market.Interval60m, time.Date(2024, 3, 6, 10, 0, 0, 0, time.UTC), time.Date(2024, 3, 6, 16, 0, 0, 0, time.UTC), tasks.PriorityHigh, "nats-request"},
		{"normal priority", `{"symbols":["EURUSD=X"],"range":"ytd","priority":"normal"}`,
			[]string{"EURUSD=X"}, market.Interval1d, day(2024, 1, 1), day(2024, 3, 7), tasks.PriorityNormal, "nats-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := requests.Parse([]byte(tc.body), requests.Limits{}, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != len(tc.symbols) {
				t.Fatalf("%d tasks, want %d: %+v", len(ts), len(tc.symbols), ts)
			}
			for i, task := range ts {
				if task.Symbol != tc.symbols[i] || task.Interval != tc.iv || !task.From.Equal(tc.from) || !task.To.Equal(tc.to) ||
					task.Priority != tc.prio || task.RequestedBy != tc.by || task.Incremental || task.Kind != tasks.KindCollect ||
					!task.RequestedAt.Equal(now) {
					t.Errorf("task %d = %+v", i, task)
				}
				if err := task.Validate(); err != nil {
					t.Errorf("task %d: %v", i, err)
				}
			}
		})
	}
}

func TestParseRefusesNamingTheField(t *testing.T) {
	many := `{"symbols":["A"` + strings.Repeat(`,"A"`, 500) + `],"range":"5d"}`
	for _, tc := range []struct {
		name, body string
		lim        requests.Limits
		field      string
		mention    []string
	}{
		{"empty", ``, requests.Limits{}, "request", []string{"empty body"}},
		{"not JSON", `symbols=AAPL`, requests.Limits{}, "request", []string{"not valid JSON"}},
		{"not an object", `["AAPL"]`, requests.Limits{}, "request", []string{"want a JSON object"}},
		{"trailing data", `{"symbols":["AAPL"],"range":"5d"} {}`, requests.Limits{}, "request", []string{"trailing data"}},
		{"unknown field", `{"symbols":["AAPL"],"range":"5d","sym":1}`, requests.Limits{}, "request", []string{`unknown field "sym"`}},
		{"field spelled in capitals", `{"Symbols":["AAPL"],"range":"5d"}`, requests.Limits{}, "request", []string{`unknown field "Symbols"`}},
		{"symbols not an array", `{"symbols":"AAPL","range":"5d"}`, requests.Limits{}, "symbols", []string{"want an array of strings"}},
		{"no symbols", `{"symbols":[],"range":"5d"}`, requests.Limits{}, "symbols", []string{"missing"}},
		{"null symbols", `{"symbols":null,"range":"5d"}`, requests.Limits{}, "symbols", []string{"missing"}},
		{"bad symbols all named", `{"symbols":["AAPL","A$B","","MSFT","TOO-LONG-FOR-ANY-EXCHANGE-X"],"range":"5d"}`, requests.Limits{}, "symbols",
			[]string{`3 of 5 invalid`, `[1] "A$B"`, `[2] ""`, `[4] "TOO-LONG-FOR-ANY-EXCHANGE-X"`}},
		{"non-ASCII does not upper-case into a ticker", `{"symbols":["aapſ"],"range":"5d"}`, requests.Limits{}, "symbols", []string{`[0] "aapſ"`}},
		{"too many symbols", many, requests.Limits{}, "symbols", []string{"501 symbols, at most 500"}},
		{"bad interval", `{"symbols":["AAPL"],"interval":"2h","range":"5d"}`, requests.Limits{}, "interval", []string{`"2h"`, "1d"}},
		{"no window", `{"symbols":["AAPL"]}`, requests.Limits{}, "range", []string{"missing"}},
		{"to without from", `{"symbols":["AAPL"],"to":"2024-01-01"}`, requests.Limits{}, "from", []string{`"to" needs "from"`}},
		{"range and from", `{"symbols":["AAPL"],"range":"5d","from":"2024-01-01"}`, requests.Limits{}, "range", []string{"not both"}},
		{"bad range", `{"symbols":["AAPL"],"range":"5days"}`, requests.Limits{}, "range", []string{`"5days"`}},
		{"bad date", `{"symbols":["AAPL"],"from":"01/02/2024"}`, requests.Limits{}, "from", []string{`"01/02/2024"`}},
		{"empty window", `{"symbols":["AAPL"],"from":"2024-02-01","to":"2024-01-01"}`, requests.Limits{}, "from/to", []string{"empty window"}},
		{"window too long", `{"symbols":["AAPL"],"interval":"1m","range":"1y"}`, requests.Limits{}, "from/to", []string{"split it"}},
		{"bad priority", `{"symbols":["AAPL"],"range":"5d","priority":"urgent"}`, requests.Limits{}, "priority", []string{`"urgent"`, `"high" or "normal"`}},
		{"requester with control characters", `{"symbols":["AAPL"],"range":"5d","requested_by":"a\u0007b"}`, requests.Limits{}, "requested_by", []string{"printable"}},
		{"oversized", `{"symbols":["AAPL"],"range":"5d","requested_by":"` + strings.Repeat("x", 2000) + `"}`,
			requests.Limits{MaxRequestBytes: 1024}, "request", []string{"at most 1024"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := requests.Parse([]byte(tc.body), tc.lim, now)
			var fe *requests.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, requests.ErrInvalidRequest) {
				t.Fatalf("Parse = %d tasks, %v; want a *FieldError", len(ts), err)
			}
			if fe.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tc.field, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid request: "+tc.field+": ") || strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q: want one line starting with the field", msg)
			}
			for _, s := range tc.mention {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
		})
	}
}

func TestParseListsAtMostTenBadSymbols(t *testing.T) {
	body := `{"symbols":["a$"` + strings.Repeat(`,"b$"`, 14) + `],"range":"5d"}`
	_, err := requests.Parse([]byte(body), requests.Limits{}, now)
	if err == nil || !strings.Contains(err.Error(), "15 of 15 invalid") || !strings.Contains(err.Error(), "and 5 more") ||
		strings.Contains(err.Error(), "[10]") {
		t.Fatalf("err = %v; want 10 listed and 5 counted", err)
	}
}

func TestParseDefaultPriorityFromLimits(t *testing.T) {
	ts, err := requests.Parse([]byte(`{"symbols":["AAPL"],"range":"5d"}`), requests.Limits{DefaultPriority: requests.PriorityNormal}, now)
	if err != nil || ts[0].Priority != tasks.PriorityNormal {
		t.Fatalf("Parse = %+v, %v; want a normal-priority task", ts, err)
	}
}

// FuzzParse: whatever the body, Parse returns valid tasks or one line naming
// a field, and never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"symbols":["AAPL"],"range":"5d"}`, `{"symbols":["a$"],"from":"2024-01-01","to":"x"}`, `[`, `{"symbols":["AAPL"],"range":"5d"}{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ts, err := requests.Parse(body, requests.Limits{}, now)
		var fe *requests.FieldError
		switch {
		case err != nil && (!errors.As(err, &fe) || strings.ContainsAny(err.Error(), "\r\n")):
			t.Fatalf("error %q: want a one-line *FieldError", err)
		case err == nil && len(ts) == 0:
			t.Fatal("no error and no tasks")
		}
		for _, task := range ts {
			if _, err := tasks.Encode(task); err != nil {
				t.Fatalf("task %+v: %v", task, err)
			}
		}
	})
}
