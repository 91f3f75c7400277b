package testenv

import (
	"testing"

	"marketfleet/calendar"
	"marketfleet/history"
)

// History is the finality policy the workers run with by default: the NYSE
// calendar, daily bars settling for two sessions.
func History(t testing.TB) *history.Policy {
	t.Helper()
	cal, err := calendar.NewNYSE()
	if err != nil {
		t.Fatal(err)
	}
	p, err := history.New(history.Config{Calendar: cal})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
