// Package features turns a series of stored price bars into per-bar features
// for models and screens: simple and log returns, simple and exponential
// moving averages (5, 20 and 50 bars), Wilder's RSI(14), 20-bar volatility of
// log returns and a 20-bar volume z-score.
//
// It is pure computation: no I/O, no clock, no globals (its only import
// besides the standard library is the outcome vocabulary its errors are
// marked with). Compute is a function of its input alone, so the same bars
// always give bit-identical rows.
//
// # Price
//
// Every price feature uses the bar's adjusted close when the bar has one
// (market.Bar.AdjClose non-nil) and its close otherwise, bar by bar. A series
// that has adjusted closes for some bars only therefore mixes the two; sources
// either provide AdjClose for every bar or for none.
//
// # Undefined values
//
// A value that is not defined yet (too little history) or not defined at all
// (a log return of a non-positive price, a z-score over a window whose
// standard deviation is 0) is nil, never 0. Computed values are never NaN or
// ±Inf: a non-finite result is reported as nil.
//
// # Definitions (i is the bar's position in the series, p its price)
//
//   - Return = p[i]/p[i-1] − 1; LogReturn = ln(p[i]/p[i-1]) (both prices > 0).
//     Defined from i = 1.
//   - SMAn = mean of p[i-n+1..i]. Defined from i = n−1.
//   - EMAn: EMAn[n−1] = SMAn[n−1] (the mean of the first n prices), then
//     EMAn[i] = α·p[i] + (1−α)·EMAn[i−1] with α = 2/(n+1). Defined from i = n−1.
//   - RSI14 (Wilder): the first average gain and loss are the simple means of
//     the first 14 changes p[i]−p[i−1]; after that avg = (prev·13 + current)/14.
//     RSI = 100 − 100/(1 + avgGain/avgLoss), and 100 when avgLoss is 0 (so a
//     flat series has RSI 100). Defined from i = 14.
//   - Vol20 = sample standard deviation (divisor n−1) of the 20 log returns
//     ending at i. Defined from i = 20 (21 prices), nil if any of those log
//     returns is undefined. Not annualised.
//   - VolumeZ20 = (v[i] − mean)/sd over the 20 volumes ending at i (the
//     current bar included), sd the sample standard deviation. Defined from
//     i = 19; nil when sd is 0.
//
// # Computing incrementally
//
// Returns, SMAs, Vol20 and VolumeZ20 are window features: a row's value
// depends only on the row's bar and the Lookback bars before it, and it is
// bit-identical however much earlier history is supplied. EMAs and RSI are
// recursive: they depend on every earlier bar back to the first one of the
// series (through the seed), so a row equals the full-history row only when
// Compute was given the whole history before it. Callers therefore compute
// over all earlier bars of the series and write only the rows from the first
// changed bar on (features.Since); the features task's handler
// (kinds.Features) does exactly that, reading such a history with
// store.Tx.ReadBars and store.AllHistory.
package features
