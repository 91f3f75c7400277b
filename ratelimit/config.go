package ratelimit

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// DefaultBucket is the KV bucket that holds the limiters' state.
const DefaultBucket = "MARKETFLEET_RATE"

// MaxRate is the highest Rate a Limiter accepts (an emission interval of
// one microsecond); a KV round trip per request cannot go faster anyway.
const MaxRate = 1e6

// Config describes one fleet-wide limit. Zero fields take the defaults
// documented on each; Key is required.
type Config struct {
	// Bucket is the KV bucket. Defaults to DefaultBucket.
	Bucket string
	// Key names the limited resource inside the bucket, e.g.
	// "source.yahoo". Required; letters, digits and "-/_=." only, not
	// starting or ending with ".".
	Key string
	// Rate is the fleet-wide sustained rate in requests per second.
	// 0 means unlimited: Wait returns at once and never touches NATS.
	// Must be in [0, MaxRate].
	Rate float64
	// Burst is how many requests the fleet may send back to back after an
	// idle period. Defaults to max(1, ceil(Rate)).
	Burst int
	// Batch is the most grants one KV write reserves for callers of this
	// Limiter that are waiting at the same time. Defaults to 1 (one write
	// per request, the fairest interleaving between workers).
	Batch int
	// Replicas of the bucket's stream when Open creates it (3 in
	// production). Defaults to 1.
	Replicas int
	// RetryFor is how long Wait keeps retrying NATS errors before it
	// returns an error wrapping ErrUnavailable. Defaults to 5s.
	RetryFor time.Duration
	// Name identifies this limiter in the values it writes ("by"), for
	// operators. Defaults to the host name (the pod name in Kubernetes).
	Name string
}

func (c Config) withDefaults() (Config, error) {
	if err := c.validate(); err != nil {
		return c, err
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Burst == 0 {
		c.Burst = max(1, int(math.Ceil(c.Rate)))
	}
	if c.Batch == 0 {
		c.Batch = 1
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.RetryFor == 0 {
		c.RetryFor = 5 * time.Second
	}
	if c.Name == "" {
		c.Name = hostname()
	}
	return c, nil
}

func (c Config) validate() error {
	switch {
	case math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > MaxRate:
		return fmt.Errorf("%w: rate %v, want 0 (unlimited) to %v requests/s", ErrInvalidConfig, c.Rate, MaxRate)
	case c.Burst < 0:
		return fmt.Errorf("%w: burst %d, want >= 0 (0 for the default)", ErrInvalidConfig, c.Burst)
	case c.Batch < 0:
		return fmt.Errorf("%w: batch %d, want >= 0 (0 for the default)", ErrInvalidConfig, c.Batch)
	case c.Replicas < 0:
		return fmt.Errorf("%w: replicas %d, want >= 0 (0 for the default)", ErrInvalidConfig, c.Replicas)
	case c.RetryFor < 0:
		return fmt.Errorf("%w: retry for %s, want >= 0 (0 for the default)", ErrInvalidConfig, c.RetryFor)
	case !validKey(c.Key):
		return fmt.Errorf("%w: key %q, want letters, digits and -/_=. not starting or ending with a dot", ErrInvalidConfig, c.Key)
	case c.Bucket != "" && !validBucket(c.Bucket):
		return fmt.Errorf("%w: bucket %q, want letters, digits, - and _", ErrInvalidConfig, c.Bucket)
	}
	return nil
}

// interval is the emission interval T = 1/Rate.
func (c Config) interval() time.Duration {
	return time.Duration(float64(time.Second) / c.Rate)
}

// validKey mirrors the jetstream KV key rules.
func validKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' || strings.Contains(k, "..") {
		return false
	}
	return strings.IndexFunc(k, func(r rune) bool { return !isAlnum(r) && !strings.ContainsRune("-/_=.", r) }) < 0
}

// validBucket mirrors the jetstream bucket name rules.
func validBucket(b string) bool {
	return strings.IndexFunc(b, func(r rune) bool { return !isAlnum(r) && r != '-' && r != '_' }) < 0
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}
