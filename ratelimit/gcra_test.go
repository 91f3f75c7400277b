package ratelimit

import (
	"reflect"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	ms := func(d int) time.Time { return now.Add(time.Duration(d) * time.Millisecond) }
	const T = 100 * time.Millisecond
	tests := []struct {
		name      string
		tat       time.Time
		n         int
		tolerance time.Duration
		grants    []time.Time
		next      time.Time
	}{
		{"full bucket", time.Time{}, 1, 2 * T, []time.Time{now}, ms(100)},
		{"TAT long past resets to now", now.Add(-time.Hour), 1, 2 * T, []time.Time{now}, ms(100)},
		{"burst of 3 then one per interval", time.Time{}, 5, 2 * T, []time.Time{now, now, now, ms(100), ms(200)}, ms(500)},
		{"burst 1 spaces every grant", time.Time{}, 3, 0, []time.Time{now, ms(100), ms(200)}, ms(300)},
		{"within tolerance goes at once", ms(150), 1, 2 * T, []time.Time{now}, ms(250)},
		{"queued behind others", ms(1000), 2, 2 * T, []time.Time{ms(800), ms(900)}, ms(1200)},
		{"TAT just past", ms(-30), 2, 0, []time.Time{now, ms(100)}, ms(200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grants, next := schedule(tt.tat, now, tt.n, T, tt.tolerance)
			if len(grants) != len(tt.grants) {
				t.Fatalf("%d grants, want %d", len(grants), len(tt.grants))
			}
			for i := range grants {
				if !grants[i].Equal(tt.grants[i]) {
					t.Errorf("grant %d at %s, want %s", i, grants[i].Sub(now), tt.grants[i].Sub(now))
				}
			}
			if !next.Equal(tt.next) {
				t.Errorf("next TAT %s, want %s", next.Sub(now), tt.next.Sub(now))
			}
		})
	}
}

// A batch of n must schedule exactly what n single reservations at the
// same instant would.
func TestScheduleBatchEqualsSingles(t *testing.T) {
	now := time.Now()
	const T, tol = 50 * time.Millisecond, 200 * time.Millisecond
	for _, start := range []time.Time{{}, now.Add(-time.Second), now.Add(120 * time.Millisecond), now.Add(3 * time.Second)} {
		batch, batchNext := schedule(start, now, 7, T, tol)
		tat := start
		for i := range 7 {
			var g []time.Time
			g, tat = schedule(tat, now, 1, T, tol)
			if !g[0].Equal(batch[i]) {
				t.Errorf("start %s: grant %d batch %s, single %s", start.Sub(now), i, batch[i].Sub(now), g[0].Sub(now))
			}
		}
		if !tat.Equal(batchNext) {
			t.Errorf("start %s: TAT batch %s, singles %s", start.Sub(now), batchNext.Sub(now), tat.Sub(now))
		}
	}
}

func TestLateness(t *testing.T) {
	tests := []struct{ interval, rtt, want time.Duration }{
		{time.Microsecond, 0, 50 * time.Millisecond},
		{50 * time.Millisecond, time.Millisecond, 50 * time.Millisecond},
		{200 * time.Millisecond, time.Millisecond, 200 * time.Millisecond},
		{10 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := lateness(tt.interval, tt.rtt); got != tt.want {
			t.Errorf("lateness(%s, %s) = %s, want %s", tt.interval, tt.rtt, got, tt.want)
		}
	}
}

func TestSmooth(t *testing.T) {
	tests := []struct{ avg, sample, want time.Duration }{
		{0, 7 * time.Millisecond, 7 * time.Millisecond},
		{8 * time.Millisecond, 16 * time.Millisecond, 9 * time.Millisecond},
		{8 * time.Millisecond, 0, 7 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := smooth(tt.avg, tt.sample); got != tt.want {
			t.Errorf("smooth(%s, %s) = %s, want %s", tt.avg, tt.sample, got, tt.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"unlimited", Config{Key: "k", Name: "n"},
			Config{Bucket: DefaultBucket, Key: "k", Burst: 1, Batch: 1, Replicas: 1, RetryFor: 5 * time.Second, Name: "n"}},
		{"fractional rate rounds burst up", Config{Key: "k", Rate: 2.5, Name: "n"},
			Config{Bucket: DefaultBucket, Key: "k", Rate: 2.5, Burst: 3, Batch: 1, Replicas: 1, RetryFor: 5 * time.Second, Name: "n"}},
		{"slow rate bursts 1", Config{Key: "k", Rate: 0.1, Name: "n"},
			Config{Bucket: DefaultBucket, Key: "k", Rate: 0.1, Burst: 1, Batch: 1, Replicas: 1, RetryFor: 5 * time.Second, Name: "n"}},
		{"explicit values kept", Config{Bucket: "B", Key: "k", Rate: 5, Burst: 10, Batch: 4, Replicas: 3, RetryFor: time.Second, Name: "n"},
			Config{Bucket: "B", Key: "k", Rate: 5, Burst: 10, Batch: 4, Replicas: 3, RetryFor: time.Second, Name: "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.MaxWait, tt.want.BreakAfter, tt.want.Cooldown = 10*time.Second, 30*time.Second, 30*time.Second
			got := tt.in.WithDefaults()
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if c := (Config{Key: "k"}).WithDefaults(); c.Name == "" {
		t.Error("Name has no default")
	}
}
