// Package backoff computes retry delays: exponential growth from a base, a
// cap, and jitter so that a fleet of workers that failed together does not
// retry together.
package backoff
