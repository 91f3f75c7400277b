package features_test

import (
	"math"
	"testing"

	"marketfleet/features"
)

func TestComputeReturns(t *testing.T) {
	// 100 → 110 is +10%, 110 → 99 is −10%.
	rows := compute(t, series(100, 110, 99))
	want := []struct{ ret, log float64 }{{}, {0.1, math.Log(1.1)}, {-0.1, math.Log(0.9)}}
	if rows[0].Return != nil || rows[0].LogReturn != nil {
		t.Fatalf("first row returns = %v, %v; want nil (no previous bar)", show(rows[0].Return), show(rows[0].LogReturn))
	}
	for i := 1; i < 3; i++ {
		if !near(rows[i].Return, want[i].ret) || !near(rows[i].LogReturn, want[i].log) {
			t.Errorf("row %d returns = %v, %v; want %v, %v", i, show(rows[i].Return), show(rows[i].LogReturn), want[i].ret, want[i].log)
		}
	}
}

// On the line p[i] = i+1, an n-bar SMA lags the price by (n−1)/2. The EMA
// seeded with that SMA keeps the same lag: with α = 2/(n+1),
// α·p + (1−α)·(p−1−(n−1)/2) = p − (1−α)(n+1)/2 = p − (n−1)/2.
// A wrong α (1/n, say) would drift towards a lag of n−1 and fail.
func TestComputeMovingAveragesOnALine(t *testing.T) {
	closes := make([]float64, 70)
	for i := range closes {
		closes[i] = float64(i + 1)
	}
	rows := compute(t, series(closes...))
	for _, n := range []int{5, 20, 50} {
		lag := float64(n-1) / 2
		line := func(i int) float64 { return closes[i] - lag }
		for _, name := range []string{"SMA", "EMA"} {
			checkSeries(t, rows, name+itoa(n), n-1, line)
		}
	}
}

func itoa(n int) string {
	return map[int]string{5: "5", 20: "20", 50: "50"}[n]
}

func TestComputeEMAByHand(t *testing.T) {
	// Seed: mean(2,4,6,8,10) = 6 at row 4. α = 2/6 = 1/3.
	// Row 5: 4/3 + (2/3)·6 = 16/3. Row 6: 13/3 + (2/3)·(16/3) = 39/9 + 32/9 = 71/9.
	rows := compute(t, series(2, 4, 6, 8, 10, 4, 13))
	want := map[int]float64{4: 6, 5: 16.0 / 3, 6: 71.0 / 9}
	checkSeries(t, rows, "EMA5", 4, func(i int) float64 { return want[i] })
	// SMA5 at row 6: (6+8+10+4+13)/5 = 41/5.
	if !near(rows[6].SMA5, 41.0/5) {
		t.Errorf("SMA5 row 6 = %v, want 8.2", show(rows[6].SMA5))
	}
}

// stockCharts is the classic RSI worked example (StockCharts ChartSchool,
// "Relative Strength Index"), 33 closes.
var stockCharts = []float64{44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89,
	46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78,
	45.35, 44.03, 44.18, 44.22, 44.57, 43.42, 42.66, 43.13}

func TestComputeRSIWilderExample(t *testing.T) {
	rows := compute(t, series(stockCharts...))
	// The first 14 changes: −.25 +.06 −.54 +.72 +.50 +.27 +.32 +.42 +.24 −.19 +.14 −.42 +.67 0.
	// Gains sum to 3.34, losses to 1.40: RSI = 100 − 100/(1 + 3.34/1.40) = 100·3.34/4.74 = 70.4641…
	// Row 15 changes by −.28: avgGain = 3.34·13/196 = 43.42/196, avgLoss = (1.30 + .28)/14 = 1.58/14,
	// RSI = 100·(43.42/196)/(43.42/196 + 1.58/14) = 66.2496…
	// (The published table shows 70.53 and 66.32: it rounds the averages to two decimals first.)
	g2, l2 := 43.42/196, 1.58/14
	hand := map[int]float64{14: 100 * 3.34 / 4.74, 15: 100 * g2 / (g2 + l2)}
	ref := wilderReference(stockCharts)
	checkSeries(t, rows, "RSI14", 14, func(i int) float64 {
		if w, ok := hand[i]; ok {
			return w
		}
		return ref[i]
	})
	// Spot-check the reference against the hand values (to two decimals):
	// rows 16..18 are 66.48, 69.35, 66.29 with unrounded averages.
	for i, w := range map[int]float64{16: 66.48, 17: 69.35, 18: 66.29, 32: 37.79} {
		if math.Abs(ref[i]-w) > 0.005 {
			t.Errorf("reference RSI row %d = %.4f, want %.2f", i, ref[i], w)
		}
	}
}

// wilderReference computes RSI(14) independently of the package: Wilder's
// smoothing written as an exponential average with α = 1/14 over gain and
// loss lists built first.
func wilderReference(p []float64) map[int]float64 {
	var gains, losses []float64
	for i := 1; i < len(p); i++ {
		d := p[i] - p[i-1]
		gains = append(gains, math.Max(d, 0))
		losses = append(losses, math.Max(-d, 0))
	}
	out := map[int]float64{}
	var g, l float64
	for k := range gains {
		switch {
		case k < 14:
			g += gains[k] / 14
			l += losses[k] / 14
			if k < 13 {
				continue
			}
		default:
			g += (gains[k] - g) / 14
			l += (losses[k] - l) / 14
		}
		out[k+1] = 100 * g / (g + l)
	}
	return out
}

func TestComputeVol20(t *testing.T) {
	// Prices alternate 1, e^a: the log returns alternate +a, −a. Any 20 of
	// them have mean 0 and squared deviations summing to 20a², so the sample
	// stdev is sqrt(20a²/19) = a·sqrt(20/19).
	const a = 0.03
	closes := make([]float64, 30)
	for i := range closes {
		closes[i] = math.Exp(a * float64(i%2))
	}
	rows := compute(t, series(closes...))
	checkSeries(t, rows, "Vol20", 20, func(int) float64 { return a * math.Sqrt(20.0/19) })
}

func TestComputeVolumeZ20(t *testing.T) {
	bars := series(make([]float64, 21)...)
	for i := range bars {
		bars[i].Close = 10
		bars[i].Volume = int64(i + 1) // 1..21
	}
	rows := compute(t, bars)
	// Volumes 1..20: mean 10.5, sample variance n(n+1)/12 = 35, z = (20 − 10.5)/√35.
	// Row 20 covers 2..21: the same shape shifted by one, so the same z.
	checkSeries(t, rows, "VolumeZ20", 19, func(int) float64 { return 9.5 / math.Sqrt(35) })
}

func TestComputeUsesAdjustedClose(t *testing.T) {
	bars := series(1000, 5000)
	adj0, adj1 := 50.0, 55.0
	bars[0].AdjClose, bars[1].AdjClose = &adj0, &adj1
	rows := compute(t, bars)
	if !near(rows[1].Return, 0.1) {
		t.Fatalf("return = %v, want 0.1 from the adjusted closes 50 → 55 (closes would give 4)", show(rows[1].Return))
	}
	if got := features.Price(bars[0]); got != 50 {
		t.Fatalf("Price with AdjClose = %v, want 50", got)
	}
	bars[0].AdjClose = nil
	if got := features.Price(bars[0]); got != 1000 {
		t.Fatalf("Price without AdjClose = %v, want the close 1000", got)
	}
}

func TestComputeRSIFirstAverageByHand(t *testing.T) {
	// Changes: +1 thirteen times, then −1, then +2.
	// Row 14: avgGain 13/14, avgLoss 1/14 → RSI = 100·13/14.
	// Row 15: avgGain (13·13/14 + 2)/14 = 197/196, avgLoss (13·1/14)/14 = 13/196 → RSI = 100·197/210.
	closes := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 12, 14}
	rows := compute(t, series(closes...))
	want := map[int]float64{14: 100 * 13.0 / 14, 15: 100 * 197.0 / 210}
	checkSeries(t, rows, "RSI14", 14, func(i int) float64 { return want[i] })
}
