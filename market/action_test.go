package market

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The text form parses into valid actions and prints back the same.
func TestActionsTextRoundTrip(t *testing.T) {
	const text = "AAPL:split:2020-08-31:4:1,VFINX:capital_gain:1999-12-23:0.54,MSFT:dividend:2024-05-15:0.75"
	var as Actions
	if err := as.UnmarshalText([]byte(text)); err != nil {
		t.Fatal(err)
	}
	want := Actions{
		{Symbol: "AAPL", ExDate: time.Date(2020, 8, 31, 0, 0, 0, 0, time.UTC), Kind: Split, Numerator: 4, Denominator: 1},
		{Symbol: "VFINX", ExDate: time.Date(1999, 12, 23, 0, 0, 0, 0, time.UTC), Kind: CapitalGain, Amount: 0.54},
		{Symbol: "MSFT", ExDate: time.Date(2024, 5, 15, 0, 0, 0, 0, time.UTC), Kind: Dividend, Amount: 0.75},
	}
	if len(as) != len(want) {
		t.Fatalf("parsed %+v, want %+v", as, want)
	}
	for i := range want {
		if as[i] != want[i] {
			t.Fatalf("action %d = %+v, want %+v", i, as[i], want[i])
		}
	}
	back, err := as.MarshalText()
	if err != nil || string(back) != text {
		t.Fatalf("MarshalText = %q, %v; want %q", back, err, text)
	}
}

// A malformed or invalid action is refused with ErrInvalidAction and a
// reason.
func TestActionsTextRefusesBadActions(t *testing.T) {
	for text, reason := range map[string]string{
		"AAPL:split:2020-08-31:4":     "wrong number of values",
		"AAPL:split:2020-08-31:0:1":   "split ratio 0:1",
		"AAPL:dividend:2020-08-31:-1": "amount -1",
		"AAPL:dividend:31/08/2020:1":  "bad date",
		"AAPL:spinoff:2020-08-31:1":   `unknown kind "spinoff"`,
		"a b:split:2020-08-31:2:1":    "invalid symbol",
		"AAPL:split":                  "too few fields",
		"AAPL:split:2020-08-31:x:1":   `bad number "x"`,
		"AAPL:split:2020-08-31:1e6:1": "within 1:10000",
	} {
		var as Actions
		err := as.UnmarshalText([]byte(text))
		if !errors.Is(err, ErrInvalidAction) || !strings.Contains(err.Error(), reason) {
			t.Errorf("%q: %v, want ErrInvalidAction with %q", text, err, reason)
		}
	}
}
