package yahoo

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/source"
)

func TestErrorClassification(t *testing.T) {
	chartErr := func(code string) []byte {
		return []byte(`{"chart":{"result":null,"error":{"code":"` + code + `","description":"some description"}}}`)
	}
	for _, tc := range []struct {
		name     string
		status   int
		body     []byte
		want     error // sentinel; nil means transient
		contains []string
		calls    int // requests made; 0 means 1
	}{
		{"404 fixture", 404, fixture(t, "error_404_SI_not_found.json"), source.ErrNotFound,
			[]string{"yahoo SI: HTTP 404", `"Not Found"`, "No data found, symbol may be delisted"}, 0},
		{"400 fixture", 400, fixture(t, "error_400_BEKE_bad_request.json"), source.ErrRejected,
			[]string{"yahoo SI: HTTP 400", `"Bad Request"`, "Data doesn't exist for startDate"}, 0},
		{"404 html", 404, []byte("<html><body>Not here</body></html>"), source.ErrNotFound, []string{"HTTP 404", "Not here"}, 0},
		{"404 empty", 404, nil, source.ErrNotFound, []string{"HTTP 404"}, 0},
		{"400 empty", 400, nil, source.ErrRejected, []string{"HTTP 400"}, 0},
		{"200 chart error not found", 200, chartErr("Not Found"), source.ErrNotFound, []string{"HTTP 200"}, 0},
		{"200 chart error other", 200, chartErr("Unprocessable Entity"), source.ErrRejected, []string{"Unprocessable Entity", "some description"}, 0},
		{"422 chart error", 422, chartErr("Unprocessable Entity"), source.ErrRejected, []string{"HTTP 422"}, 0},
		{"401", 401, []byte(`{"finance":{"result":null,"error":{"code":"Unauthorized"}}}`), nil, []string{"yahoo SI: HTTP 401", "Unauthorized"}, 0},
		{"403 with chart error", 403, chartErr("Forbidden"), nil, []string{"HTTP 403"}, 0},
		{"418", 418, nil, nil, []string{"HTTP 418"}, 0},
		// Bodies that are not a chart are fetched again (3 attempts), then
		// refused as bad data: permanent.
		{"200 not json", 200, []byte("<html>consent</html>"), source.ErrBadData, []string{"HTTP 200: body is not a chart: decode chart", "<html>consent", "gave up after 3 attempts"}, 3},
		{"200 truncated", 200, []byte(`{"chart":{"result":[{"timestamp":[157`), source.ErrBadData, []string{"decode chart"}, 3},
		{"200 NaN", 200, []byte(`{"chart":{"result":[{"timestamp":[1577836800],"indicators":{"quote":[{"open":[NaN]}]}}]}}`), source.ErrBadData, []string{"decode chart"}, 3},
		{"200 empty result", 200, []byte(`{"chart":{"result":[],"error":null}}`), source.ErrBadData, []string{"neither a result nor an error"}, 3},
		{"200 null result", 200, []byte(`{"chart":{"result":[null],"error":null}}`), source.ErrBadData, []string{"neither a result nor an error"}, 3},
		{"200 wrong types", 200, []byte(`{"chart":{"result":[{"timestamp":["x"]}],"error":null}}`), source.ErrBadData, []string{"decode chart"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, serve(tc.body, tc.status))
			_, err := source.Bars(context.Background(), newClient(t, f), window("SI", "1d", 1577836800, 1578009600))
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.want)
			}
			if tc.want == nil && outcome.Of(err) != outcome.Transient {
				t.Errorf("err = %v, want transient", err)
			}
			if outcome.After(err) != 0 {
				t.Errorf("err = %v, want no Retry-After", err)
			}
			for _, s := range tc.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q, want it to contain %q", err, s)
				}
			}
			if n, want := f.count(), max(tc.calls, 1); n != want {
				t.Errorf("%d requests, want %d", n, want)
			}
		})
	}
}

func TestInvalidRequestsMakeNoCall(t *testing.T) {
	f := newFake(t, serve(fixture(t, "daily_EURUSDX_fx.json"), http.StatusOK))
	c := newClient(t, f)
	for _, tc := range []struct {
		name  string
		sym   string
		iv    market.Interval
		extra error
	}{
		{"invalid interval", "AAPL", "1h", market.ErrInvalidInterval},
		{"empty interval", "AAPL", "", market.ErrInvalidInterval},
		{"lower-case symbol", "aapl", "1d", market.ErrInvalidSymbol},
		{"path in symbol", "../../x", "1d", market.ErrInvalidSymbol},
	} {
		_, err := source.Bars(context.Background(), c, window(tc.sym, tc.iv, 1577836800, 1578009600))
		if !errors.Is(err, source.ErrRejected) || !errors.Is(err, tc.extra) {
			t.Errorf("%s: err = %v, want ErrRejected and %v", tc.name, err, tc.extra)
		}
	}
	for _, w := range [][2]int64{{1578009600, 1578009600}, {1578009600, 1577836800}} {
		bars, err := source.Bars(context.Background(), c, window("AAPL", "1d", w[0], w[1]))
		if err != nil || bars == nil || len(bars) != 0 {
			t.Errorf("window %v: bars = %v, err = %v; want empty, nil", w, bars, err)
		}
	}
	if n := f.count(); n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
}

func TestBodyCap(t *testing.T) {
	f := newFake(t, serve([]byte(strings.Repeat(" ", 2048)+"{}"), http.StatusOK))
	c := newClient(t, f)
	c.maxBody = 1024
	_, err := source.Bars(context.Background(), c, window("AAPL", "1d", 1577836800, 1578009600))
	if err == nil || !strings.Contains(err.Error(), "too large") || outcome.Of(err).DeadLetter() {
		t.Errorf("err = %v, want a transient 'too large' error", err)
	}
	if n := f.count(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
