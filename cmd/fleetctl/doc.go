// Command fleetctl is the operator's tool for the fleet.
//
// Usage:
//
//	fleetctl dlq list    [filters] [--limit N] [--json]
//	fleetctl dlq show    SEQ [--json]
//	fleetctl dlq replay  (SEQ... | --all [filters]) [--force]
//	fleetctl dlq purge   (SEQ... | --all [filters])
//	fleetctl budget      [--json]
//	fleetctl status      [--json] [--watch[=2s]] [--stale N] [--timeout D]
package main
