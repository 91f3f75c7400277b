package features

import "math"

// Each indicator returns one value per input position, nil where it is not
// defined. Window statistics are summed afresh for every window (no running
// sums), so a value depends only on its window, never on how much history
// came before it.

// returns gives the simple and log return of each price against the one
// before it. The simple return needs a non-zero previous price, the log
// return two positive prices.
func returns(p []float64) (simple, logRet []*float64) {
	simple, logRet = make([]*float64, len(p)), make([]*float64, len(p))
	for i := 1; i < len(p); i++ {
		prev := p[i-1]
		if prev != 0 {
			simple[i] = finite(p[i]/prev - 1)
		}
		if prev > 0 && p[i] > 0 {
			logRet[i] = finite(math.Log(p[i] / prev))
		}
	}
	return simple, logRet
}

// sma gives the mean of the n values ending at each position, from n−1 on.
func sma(x []float64, n int) []*float64 {
	out := make([]*float64, len(x))
	for i := n - 1; i < len(x); i++ {
		out[i] = finite(mean(x[i-n+1 : i+1]))
	}
	return out
}

// ema gives the exponential moving average with α = 2/(n+1), seeded at
// position n−1 with the mean of the first n values.
func ema(x []float64, n int) []*float64 {
	out := make([]*float64, len(x))
	if len(x) < n {
		return out
	}
	alpha := 2 / float64(n+1)
	e := mean(x[:n])
	out[n-1] = finite(e)
	for i := n; i < len(x); i++ {
		e = alpha*x[i] + (1-alpha)*e
		out[i] = finite(e)
	}
	return out
}

// rsi gives Wilder's relative strength index over n changes, from position n
// on: the first averages are simple means of the first n gains and losses,
// later ones avg = (prev·(n−1) + current)/n.
func rsi(x []float64, n int) []*float64 {
	out := make([]*float64, len(x))
	if len(x) <= n {
		return out
	}
	var avgGain, avgLoss float64
	for i := 1; i <= n; i++ {
		g, l := gainLoss(x[i] - x[i-1])
		avgGain += g
		avgLoss += l
	}
	avgGain /= float64(n)
	avgLoss /= float64(n)
	out[n] = rsiOf(avgGain, avgLoss)
	for i := n + 1; i < len(x); i++ {
		g, l := gainLoss(x[i] - x[i-1])
		avgGain = (avgGain*float64(n-1) + g) / float64(n)
		avgLoss = (avgLoss*float64(n-1) + l) / float64(n)
		out[i] = rsiOf(avgGain, avgLoss)
	}
	return out
}

// gainLoss splits a price change into its gain and loss parts (both ≥ 0).
func gainLoss(d float64) (gain, loss float64) {
	if d > 0 {
		return d, 0
	}
	return 0, -d
}

// rsiOf is 100 − 100/(1 + avgGain/avgLoss), or 100 when avgLoss is 0.
func rsiOf(avgGain, avgLoss float64) *float64 {
	if avgLoss == 0 {
		return finite(100)
	}
	return finite(100 - 100/(1+avgGain/avgLoss))
}

// rollingStdev gives the sample standard deviation of the n values ending at
// each position, nil when any of them is undefined.
func rollingStdev(x []*float64, n int) []*float64 {
	out := make([]*float64, len(x))
	w := make([]float64, n)
	for i := n - 1; i < len(x); i++ {
		if fill(w, x[i-n+1:i+1]) {
			out[i] = finite(sampleStdev(w))
		}
	}
	return out
}

// zscore gives (x[i] − mean)/sd over the n values ending at each position (x[i]
// included), sd the sample standard deviation; nil when sd is 0.
func zscore(x []float64, n int) []*float64 {
	out := make([]*float64, len(x))
	for i := n - 1; i < len(x); i++ {
		w := x[i-n+1 : i+1]
		if sd := sampleStdev(w); sd != 0 {
			out[i] = finite((x[i] - mean(w)) / sd)
		}
	}
	return out
}

// fill copies the values of src into dst and reports whether all were defined.
func fill(dst []float64, src []*float64) bool {
	for j, v := range src {
		if v == nil {
			return false
		}
		dst[j] = *v
	}
	return true
}

func mean(x []float64) float64 {
	var sum float64
	for _, v := range x {
		sum += v
	}
	return sum / float64(len(x))
}

// sampleStdev is the standard deviation with divisor len(x)−1, computed in two
// passes (mean, then squared deviations) for accuracy. len(x) must be ≥ 2.
func sampleStdev(x []float64) float64 {
	m := mean(x)
	var ss float64
	for _, v := range x {
		d := v - m
		ss += d * d
	}
	return math.Sqrt(ss / float64(len(x)-1))
}

// finite returns a pointer to v, or nil when v is NaN or ±Inf.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
