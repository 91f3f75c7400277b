package yahoo

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"marketfleet/outcome"
	"marketfleet/source"
)

// Garbage in an answer refuses the whole answer, permanently (class
// bad_data), with the offending value in the reason; none of its bars come
// back.
func TestGarbageIsRefusedWhole(t *testing.T) {
	const head = `{"chart":{"result":[{"meta":{"exchangeTimezoneName":%q,"gmtoffset":0},`
	body := func(tz, rest string) []byte {
		return []byte(strings.Replace(head, "%q", `"`+tz+`"`, 1) + rest + `}],"error":null}}`)
	}
	good := `"timestamp":[1577975400,1578061800],"indicators":{"quote":[{"open":[10,11],"high":[12,12],"low":[9,10],"close":[11,11.5],"volume":[100,200]}]}`
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"misaligned arrays", body("America/New_York",
			`"timestamp":[1577975400,1578061800,1578321000],"indicators":{"quote":[{"open":[10,11],"high":[12,12],"low":[9,10],"close":[11,11.5],"volume":[100,200]}]}`),
			"2 open values for 3 timestamps"},
		{"misaligned adjclose", body("America/New_York", strings.TrimSuffix(good, "]}")+`],"adjclose":[{"adjclose":[1]}]}`),
			"1 adjclose values for 2 timestamps"},
		{"duplicate timestamps", body("America/New_York",
			`"timestamp":[1577975400,1577975400],"indicators":{"quote":[{"open":[10,11],"high":[12,12],"low":[9,10],"close":[11,11.5],"volume":[100,200]}]}`),
			"timestamp 1577975400 (2020-01-02T14:30:00Z) appears twice"},
		{"a timestamp years ahead", body("America/New_York",
			`"timestamp":[1577975400,1893456000],"indicators":{"quote":[{"open":[10,11],"high":[12,12],"low":[9,10],"close":[11,11.5],"volume":[100,200]}]}`),
			"timestamp 1893456000 (2030-01-01T00:00:00Z) is after the answer"},
		{"a time zone that is a path", body("../../etc/passwd", good), `exchange time zone "../../etc/passwd"`},
		{"negative volume", body("America/New_York",
			`"timestamp":[1577975400,1578061800],"indicators":{"quote":[{"open":[10,11],"high":[12,12],"low":[9,10],"close":[11,11.5],"volume":[100,-5]}]}`),
			"volume -5 is not a count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, serve(tc.body, http.StatusOK))
			resp, err := newClient(t, f).Fetch(context.Background(), window("AAPL", "1d", 1577836800, 1578355200))
			if !errors.Is(err, source.ErrBadData) || outcome.Of(err) != outcome.BadData || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch = %v (class %q), want bad_data saying %q", err, outcome.Of(err), tc.want)
			}
			if len(resp.Bars) != 0 {
				t.Fatalf("%d bars came back with the error", len(resp.Bars))
			}
			if n := f.count(); n != 1 {
				t.Fatalf("%d requests, want 1: a parsed answer is not asked again", n)
			}
		})
	}
	// The same answer, well formed, is fine.
	f := newFake(t, serve(body("America/New_York", good), http.StatusOK))
	resp, err := newClient(t, f).Fetch(context.Background(), window("AAPL", "1d", 1577836800, 1578355200))
	if err != nil || len(resp.Bars) != 2 {
		t.Fatalf("a good answer: %d bars, %v", len(resp.Bars), err)
	}
}

// A body that is not a chart once is fetched again.
func TestAnUnparseableBodyIsFetchedAgain(t *testing.T) {
	good := fixture(t, "daily_EURUSDX_fx.json")
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			respond(w, http.StatusOK, []byte("<html>maintenance</html>"))
			return
		}
		respond(w, http.StatusOK, good)
	})
	if _, err := newClient(t, f, fastRetry).Fetch(context.Background(), window("EURUSD=X", "1d", 1577836800, 1578355200)); err != nil || f.count() != 2 {
		t.Fatalf("Fetch = %v after %d requests, want success after 2", err, f.count())
	}
}
