// Package synthetic is an offline, deterministic source of price bars: the
// default source for demos, tests and benchmarks, needing no network.
//
// # Contract
//
// A Source produces exactly one bar per bar start t in the request window:
// t = Interval.Ceil(From), then Interval.Next(t), while t < To. Bars are
// returned oldest first with Symbol, Interval, Source ("synthetic") set and TS
// in UTC.
//
// Every value of a bar is a pure function of (symbol, interval, bar start):
// the bar for AAPL/1d at a given instant is bit-identical whatever window it was
// requested in, in every process and run on the same platform. Values are
// derived with FNV-1a 64 and splitmix64; there is no random state. (Floating
// point results may differ in the last bits across CPU architectures, because
// the compiler may fuse multiply-adds on some of them.)
//
// # The model
//
// Each symbol has a base price between 10 and 1000 and a base daily volume,
// both hashed from the symbol. The log price wanders around the base as a sum
// of smoothly interpolated hashed noise at periods from one hour to about
// eleven years (so prices of different intervals agree with each other); the
// open and close of a bar are that price at the bar's start and end plus small
// hashed noise, and the high and low extend beyond them. The model guarantees
// 0 < Low <= min(Open, Close) <= max(Open, Close) <= High, all finite, and
// Volume >= 0. Without corporate actions AdjClose always equals Close.
//
// # Corporate actions
//
// Config.Actions makes the source answer as a real one does, as of its clock
// (Config.Now): an action is in effect once its ex-date is not after the
// clock. Then every bar starting before the ex-date of a split in effect has
// its prices divided by the split's ratio and its volume multiplied, and every
// bar starting before the ex-date of a distribution in effect has its
// adjusted close multiplied by 1 - amount / C, where C is the unadjusted
// daily close of the day before the ex-date (the factor Yahoo uses), for
// every interval. The actions in effect whose ex-date lies in the window
// are reported in the Response, distributions in the units of the answer. So
// the same window fetched before and after a split differs exactly as Yahoo's
// would, which is what the fleet's restatement is tested against.
//
// # Errors
//
// An invalid interval or symbol, or a window holding more than MaxBars bars,
// returns an error wrapping source.ErrRejected. A cancelled context returns an
// error wrapping ctx.Err().
package synthetic
