package sampler

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSamplerKeepsPeakAndLast(t *testing.T) {
	values := []int{1, 3, 2, -1, 2}
	i := 0
	ctx, cancel := context.WithCancel(context.Background())
	s := New(time.Millisecond, func(context.Context) (int, error) {
		v := values[i]
		i++
		if i == len(values) {
			cancel()
		}
		if v < 0 {
			return 0, errors.New("boom")
		}
		return v, nil
	})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.Stats()
	want := Stats{Peak: 3, Last: 2, Samples: 4, Errors: 1}
	if got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}
