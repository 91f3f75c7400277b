// Package history says what a complete and final history of a series is:
// which bars a series should have (Expected: one per bar of the grid that
// holds a session of its exchange) and from when a stored bar is final
// (FinalAt: its session or interval has closed and the settling period for
// the source's revisions has passed). The collect handler marks the bars it
// stores with it, the audit finds gaps against it, and the housekeeping
// re-collects provisional bars when they fall due.
//
// # Listings
//
// Exchange classifies a symbol the way Yahoo names it: a suffix after the
// last dot is the exchange (7203.T, GS2C.DE); =X is currency, =F a future, a
// pair such as BTC-USD a crypto-currency; everything else (AAPL, BRK-B,
// ^GSPC) is a US listing and follows the NYSE calendar (package calendar),
// holidays and early closes included. The history of other listings is
// audited against the days the source has shown for their exchange (see
// store.Audit). A listing the rule gets wrong (a non-US index such as ^N225)
// shows its own holidays as gaps once: the repair finds no data and records
// them as known holes.
//
// # Finality
//
// A bar is final once its interval has ended (an intraday bar: also once its
// session has closed) and, for daily and longer bars, SettleSessions more
// sessions have closed (Yahoo revises a day's volume for a day or two); an
// intraday bar settles for SettleIntraday. Outside the years the calendar
// covers, and for non-US listings, sessions are weekdays and a bar ends 12
// hours after its UTC day (every exchange's day has closed by then).
//
// # Contract
//
// A Policy is immutable and safe for concurrent use; it does no I/O.
package history
