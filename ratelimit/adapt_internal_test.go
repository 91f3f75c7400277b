package ratelimit

import (
	"math"
	"testing"
	"time"
)

// The factor recovers by a tenth of the rate every 5 s after a cut, up to
// the full rate, and never falls below a twentieth.
func TestFactorRecoversAdditively(t *testing.T) {
	cut := time.Date(2026, 1, 5, 15, 0, 0, 0, time.UTC)
	st := state{Factor: 0.25, Cut: cut}
	for _, tc := range []struct {
		after time.Duration
		want  float64
	}{
		{0, 0.25}, {5 * time.Second, 0.35}, {25 * time.Second, 0.75}, {time.Minute, 1}, {time.Hour, 1},
	} {
		if got := factorAt(st, cut.Add(tc.after)); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s after the cut: factor %v, want %v", tc.after, got, tc.want)
		}
	}
	if got := factorAt(state{}, cut); got != 1 {
		t.Errorf("never penalized: factor %v, want 1", got)
	}
	if got := factorAt(state{Factor: 0.001, Cut: cut}, cut); got != minFactor {
		t.Errorf("below the floor: factor %v, want %v", got, minFactor)
	}
}
