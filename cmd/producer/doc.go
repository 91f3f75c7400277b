// Command producer enqueues collection tasks on the JetStream task stream.
//
// Usage:
//
//	producer enqueue [--interval 1d] [--range 1mo | --from DATE [--to DATE]] SYMBOL...
//	producer enqueue --universe FILE [...]
//	producer backfill [--interval 1d] (--range 10y | --from DATE [--to DATE]) [--window-bars N] SYMBOL...
//	producer backfill --universe FILE [...]
//	producer schedule --universe FILE [--interval 1d] [--market-hours] [--eod 16:30] [--lookback N] [--once]
//	producer --help
package main
