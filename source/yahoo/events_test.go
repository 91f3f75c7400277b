package yahoo

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"marketfleet/market"
	"marketfleet/source"
)

// fetchResponse serves body and returns the whole answer to req.
func fetchResponse(t *testing.T, body []byte, req source.Request) source.Response {
	t.Helper()
	f := newFake(t, serve(body, http.StatusOK))
	resp, err := newClient(t, f).Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// The recorded VFINX body carries 164 dividends and 21 capital gains: each
// becomes an action dated by the trading date of its "date" in New York
// (not by its map key, the quarter it falls in), oldest first, all valid.
func TestVFINXEventsParseIntoActions(t *testing.T) {
	req := source.Request{Symbol: "VFINX", Interval: "3mo", From: day(1980, 1, 1), To: day(2025, 10, 2)}
	resp := fetchResponse(t, fixture(t, "3mo_VFINX_events_null_row.json"), req)
	var divs, gains []market.Action
	for i, a := range resp.Actions {
		if err := a.Validate(resp.AsOf); err != nil {
			t.Fatalf("action %d: %v", i, err)
		}
		if a.Symbol != "VFINX" || a.Source != Name || (i > 0 && a.ExDate.Before(resp.Actions[i-1].ExDate)) {
			t.Fatalf("action %d = %+v: want VFINX, yahoo, oldest first", i, a)
		}
		switch a.Kind {
		case market.Dividend:
			divs = append(divs, a)
		case market.CapitalGain:
			gains = append(gains, a)
		default:
			t.Fatalf("action %d kind %q", i, a.Kind)
		}
	}
	if len(divs) != 164 || len(gains) != 21 {
		t.Fatalf("%d dividends and %d capital gains, want 164 and 21", len(divs), len(gains))
	}
	for _, c := range []struct {
		got    market.Action
		date   time.Time
		amount float64
	}{
		{divs[0], day(1980, 6, 27), 0.16}, {divs[163], day(2025, 6, 30), 1.605},
		{gains[0], day(1987, 12, 29), 0.17}, {gains[20], day(1999, 12, 23), 0.54},
	} {
		if !c.got.ExDate.Equal(c.date) || c.got.Amount != c.amount {
			t.Errorf("%s: want %s %g", c.got, c.date.Format(time.DateOnly), c.amount)
		}
		// In effect from midnight in New York: 04:00 UTC in summer, 05:00 in winter.
		if off := c.got.EffectiveAt.Sub(c.date); off != 4*time.Hour && off != 5*time.Hour {
			t.Errorf("%s: in effect at %s, want 00:00 in New York", c.got, c.got.EffectiveAt)
		}
	}
	if !resp.Bars[0].AsOf.Equal(resp.AsOf) || resp.AsOf.IsZero() {
		t.Errorf("bars as of %s, answer as of %s: want the same, set", resp.Bars[0].AsOf, resp.AsOf)
	}
}

// Splits (date, numerator, denominator, splitRatio) become split actions:
// the recorded TSLA history with its two real splits added in the shape
// Yahoo sends them.
func TestSplitEventsParseIntoActions(t *testing.T) {
	var body map[string]any
	if err := json.Unmarshal(fixture(t, "daily_TSLA_full_history_3303bars.json"), &body); err != nil {
		t.Fatal(err)
	}
	result := body["chart"].(map[string]any)["result"].([]any)[0].(map[string]any)
	result["events"] = map[string]any{"splits": map[string]any{
		"1598880600": map[string]any{"date": 1598880600, "numerator": 5, "denominator": 1, "splitRatio": "5:1"},
		"1661434200": map[string]any{"date": 1661434200, "numerator": 3, "denominator": 1, "splitRatio": "3:1"},
	}}
	withSplits, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req := source.Request{Symbol: "TSLA", Interval: market.Interval1d, From: time.Unix(0, 0), To: day(2024, 1, 1)}
	resp := fetchResponse(t, withSplits, req)
	want := []market.Action{
		{Symbol: "TSLA", ExDate: day(2020, 8, 31), EffectiveAt: day(2020, 8, 31).Add(4 * time.Hour), // 00:00 EDT
			Kind: market.Split, Numerator: 5, Denominator: 1, Source: Name},
		{Symbol: "TSLA", ExDate: day(2022, 8, 25), EffectiveAt: day(2022, 8, 25).Add(4 * time.Hour),
			Kind: market.Split, Numerator: 3, Denominator: 1, Source: Name},
	}
	if len(resp.Actions) != 2 || resp.Actions[0] != want[0] || resp.Actions[1] != want[1] {
		t.Fatalf("actions %+v, want %+v", resp.Actions, want)
	}
	if len(resp.Bars) != 3303 {
		t.Fatalf("%d bars, want 3303", len(resp.Bars))
	}
}

// A body without events has no actions (an empty slice, not nil).
func TestNoEventsNoActions(t *testing.T) {
	resp := fetchResponse(t, fixture(t, "daily_EURUSDX_fx.json"), window("EURUSD=X", "1d", 1577836800, 1578096000))
	if resp.Actions == nil || len(resp.Actions) != 0 {
		t.Fatalf("actions %v, want an empty slice", resp.Actions)
	}
}
