// Package schedule plans continuous, market-hours-aware collection: given a
// universe (symbols, each with its bar interval), Planner.Due says which
// collect tasks fall due at an instant and Planner.Next when the next ones
// will.
//
// # Cadence
//
// Every entry is enqueued once per bar of its interval, when the bar closes.
// A tick of interval iv closes the bar that ends at the tick and makes due,
// for every entry of iv, the window of the last Lookback bars ending with
// that bar: a small overlap, so that a missed tick (a restart, a failed
// publish) is covered by the next ones. Bars lie on the grid of
// market.Interval.Floor and Next.
//
//   - Without MarketHours every interval ticks on its grid, around the
//     clock: 5m bars every five minutes, 1d bars at 00:00 UTC, 1wk bars on
//     Mondays at 00:00 UTC, 1mo bars on the first of the month.
//   - With MarketHours an intraday interval ticks only for bars that overlap
//     an NYSE regular session (calendar.NYSE): the first tick of a session
//     is the first grid boundary after the open, the last the first boundary
//     at or after the close (16:00, or 13:00 on an early-close day), and
//     nothing ticks on weekends and holidays.
//   - With MarketHours a daily or longer interval ticks at the end-of-day
//     run instead of at midnight UTC: at EOD New York time (default 16:30)
//     of a trading date, for the bar of the interval that contains that
//     date, if no later session of the bar remains (1d: every session; 1wk:
//     the week's last session; 1mo: the month's). Early-close days run at
//     the same EOD wall-clock time, not at close plus an offset: the
//     data is final either way and operators get one time to watch. The
//     window ends at the end of that bar (for 1d, at 00:00 UTC after the
//     trading date), so it is the very window the midnight-UTC tick makes.
//
// # Determinism
//
// A tick's window, hence its tasks' JetStream message ids, depends only on
// the interval, the bar and Lookback, never on when or where it is
// computed: two schedulers, or one restarted, make the same tasks, and the
// stream's duplicate window stores each once.
//
// # Contract
//
// A Planner is immutable after New and safe for concurrent use. It does no
// I/O, never logs and keeps no state: the caller remembers up to which
// instant it has published (see Planner.Due). Calendar errors, including
// those wrapping calendar.ErrNotCovered for a year the session data does not
// list, are returned wrapped, never swallowed.
package schedule
