package yahoo

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/source"
)

func TestRequestShape(t *testing.T) {
	for _, tc := range []struct {
		symbol, escaped string
	}{
		{"AAPL", "AAPL"},
		{"^GSPC", "%5EGSPC"},
		{"EURUSD=X", "EURUSD=X"},
		{"BRK-B", "BRK-B"},
		{"7203.T", "7203.T"},
	} {
		f := newFake(t, serve(fixture(t, "daily_VXAPL_index_no_timestamp.json"), http.StatusOK))
		req := source.Request{Symbol: tc.symbol, Interval: market.Interval60m,
			From: time.Unix(1700000000, 0), To: time.Unix(1700086400, 500)}
		c := newClient(t, f)
		if u := c.chartURL(req); !strings.HasPrefix(u, f.URL+"/v8/finance/chart/"+tc.escaped+"?") {
			t.Errorf("%s: chartURL = %q, want the escaped symbol %q", tc.symbol, u, tc.escaped)
		}
		if _, err := source.Bars(context.Background(), c, req); err != nil {
			t.Fatalf("%s: %v", tc.symbol, err)
		}
		r := f.last()
		if r.Method != http.MethodGet || r.URL.Path != "/v8/finance/chart/"+tc.symbol {
			t.Errorf("%s: %s %s", tc.symbol, r.Method, r.URL.Path)
		}
		if want := "/v8/finance/chart/" + tc.escaped + "?"; !strings.HasPrefix(r.RequestURI, want) {
			t.Errorf("%s: request URI %q, want prefix %q", tc.symbol, r.RequestURI, want)
		}
		if !strings.HasSuffix(r.RequestURI, "&events=div%7Csplit") {
			t.Errorf("%s: request URI %q, want events=div%%7Csplit", tc.symbol, r.RequestURI)
		}
		q := r.URL.Query()
		want := map[string]string{
			"interval": "60m", "period1": "1700000000", "period2": strconv.Itoa(1700086401),
			"includePrePost": "false", "events": "div|split",
		}
		for k, v := range want {
			if got := q.Get(k); got != v {
				t.Errorf("%s: query %s = %q, want %q", tc.symbol, k, got, v)
			}
		}
		if len(q) != len(want) {
			t.Errorf("%s: query %v has extra parameters", tc.symbol, q)
		}
		if ua := r.Header.Get("User-Agent"); !strings.Contains(ua, "marketfleet") || !strings.HasPrefix(ua, "Mozilla/5.0") {
			t.Errorf("%s: User-Agent %q", tc.symbol, ua)
		}
	}
}

func TestOptionsAndBasePath(t *testing.T) {
	f := newFake(t, serve(fixture(t, "daily_VXAPL_index_no_timestamp.json"), http.StatusOK))
	c, err := New(Config{BaseURL: f.URL + "/proxy/", UserAgent: "test-agent/1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := source.Bars(context.Background(), c, window("^VXAPL", "1d", 1637000000, 1637400000)); err != nil {
		t.Fatal(err)
	}
	r := f.last()
	if r.URL.Path != "/proxy/v8/finance/chart/^VXAPL" || r.Header.Get("User-Agent") != "test-agent/1" {
		t.Errorf("path %q, User-Agent %q", r.URL.Path, r.Header.Get("User-Agent"))
	}
	if c.cfg.HTTPClient == nil || c.cfg.HTTPClient.Timeout != 15*time.Second || c.cfg.Attempts != 3 || c.cfg.MaxRetryAfter != 30*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if c.Name() != "yahoo" {
		t.Errorf("Name() = %q", c.Name())
	}
}

func TestNewValidatesBaseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" means valid
	}{
		{"https://query1.finance.yahoo.com", ""},
		{"https://query1.finance.yahoo.com/", ""},
		{"http://127.0.0.1:8080/prefix", ""},
		{"", ""}, // DefaultBaseURL
		{"query1.finance.yahoo.com", "absolute http or https URL"},
		{"/v8/finance", "absolute http or https URL"},
		{"ftp://example.com", "absolute http or https URL"},
		{"http://", "absolute http or https URL"},
		{"://bad", "absolute http or https URL"},
		{"https://example.com/?x=1", "no query or fragment"},
		{"https://example.com/#frag", "no query or fragment"},
	} {
		_, err := New(Config{BaseURL: tc.in})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("New(%q): %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("New(%q) = %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
}

func TestDailyPeriodIsWidenedByADay(t *testing.T) {
	f := newFake(t, serve(fixture(t, "daily_VXAPL_index_no_timestamp.json"), http.StatusOK))
	c := newClient(t, f)
	req := source.Request{Symbol: "7203.T", Interval: market.Interval1d,
		From: time.Unix(1700006400, 0), To: time.Unix(1700092800, 0)}
	if _, err := source.Bars(context.Background(), c, req); err != nil {
		t.Fatal(err)
	}
	q := f.last().URL.Query()
	if q.Get("period1") != "1699920000" || q.Get("period2") != "1700179200" {
		t.Fatalf("period1/period2 = %s/%s, want one day wider on each side", q.Get("period1"), q.Get("period2"))
	}
}
