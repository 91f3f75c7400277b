// Package yahoo is a client for the Yahoo Finance v8 chart API
// (GET {base}/v8/finance/chart/{symbol}), used as a source.Source.
//
// # Request
//
// Fetch asks for interval=<iv>, period1=<unix From>, period2=<unix To>,
// includePrePost=false and events=div|split, with a browser-like User-Agent
// (Yahoo refuses Go's default one).
//
// # Normalisation
//
// Yahoo stamps bars at odd instants: daily bars at the exchange's opening
// time, the current day's "live" bar at the last trade, and so on. So that a
// re-fetch lands on the same primary key:
//
//   - for daily and longer intervals (1d, 5d, 1wk, 1mo, 3mo) TS is the bar's
//     trading date in the exchange's time zone (meta.exchangeTimezoneName,
//     else the fixed offset meta.gmtoffset) at 00:00 UTC;
//   - for intraday intervals TS is Yahoo's timestamp, floored onto the grid of
//     the response's first timestamp when it is off that grid.
//
// Rows with a null in open, high, low, close or volume (or a negative or
// unrepresentable volume) are skipped; a null is never stored as zero. When
// two bars land on the same TS the later one in the response wins (for 1d this
// is how the live bar replaces its day). For 5d, 1wk, 1mo and 3mo, a last row
// that falls inside the period of the row before it is Yahoo's separate live
// row for the current day: it is merged into that bar (high and low widened,
// close, adjusted close and volume taken from or added to it) instead of
// being returned under a mid-period TS. Finally bars whose TS falls outside
// [From, To) are dropped, and the rest are returned oldest first.
// AdjClose is nil when the response has no adjclose for the row (intraday
// intervals never do). A response without timestamps is no data: an empty
// slice and a nil error.
//
// # Corporate actions
//
// events.splits (date, numerator, denominator), events.dividends and
// events.capitalGains (date, amount) become the Response's Actions, each
// dated by the trading date of its "date" (the ex-date, not the map key,
// which is the bar the action falls in) in the exchange's time zone. They
// are returned as reported; the caller validates them. Yahoo answers as of
// the moment of the request: open, high, low, close and volume adjusted for
// every split, adjclose for every split and distribution, up to then
// (Response.AsOf, and every bar's AsOf, is when the response arrived).
//
// # Errors
//
// Every error names the symbol ("yahoo AAPL: ...") and is classified for the
// caller (see package source):
//
//   - a chart error object with code "Not Found" (on any status not retried
//     or listed as transient below), or HTTP 404 without one, wraps
//     source.ErrNotFound;
//   - any other chart error object, HTTP 400, an invalid interval or an
//     invalid symbol wraps source.ErrRejected;
//   - HTTP 429, HTTP 5xx, network errors and timeouts are retried in-process
//     (Config.Attempts, Config.Retry), waiting for Retry-After when the server sends one no longer
//     than Config.MaxRetryAfter. When the attempts are spent, or Retry-After is
//     too long to wait for, the error is marked outcome.RetryAfter if the
//     server sent Retry-After, else a plain transient error;
//   - HTTP 401, 403 and 407 (even with a chart error object: they refuse the
//     client, not the request), other unexpected statuses, undecodable
//     bodies and bodies larger than 32 MiB are transient errors, not retried
//     in-process;
//   - a cancelled context stops at once with an error wrapping ctx.Err().
package yahoo
