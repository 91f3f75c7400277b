package ratelimit

import (
	"cmp"
	"math"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/internal/config"
	"marketfleet/queue"
)

// DefaultBucket is the KV bucket that holds the limiters' state.
const DefaultBucket = "MARKETFLEET_RATE"

// MaxRate is the highest Rate a Limiter accepts (an emission interval of
// one microsecond); a KV round trip per request cannot go faster anyway.
const MaxRate = 1e6

// Defaults of Config.MaxWait, BreakAfter and Cooldown.
const (
	DefaultMaxWait    = 10 * time.Second
	DefaultBreakAfter = 30 * time.Second
	DefaultCooldown   = 30 * time.Second
)

// MaxCooldown is the longest the breaker stays open at once.
const MaxCooldown = 10 * time.Minute

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
	// MaxWait is the longest a request waits for its grant in-process: a
	// request the fleet's rate would make wait longer, or one made while
	// the breaker is open, is not booked, and Wait returns an error
	// wrapping ErrDeferred that asks for that delay (outcome.RetryAfter):
	// its task waits in the queue. Admit uses it to size pulls. Defaults to
	// 10s.
	MaxWait time.Duration
	// BreakAfter is how long the source must keep failing (HTTP 429, 5xx,
	// network errors) with no success in between before the breaker opens
	// and the fleet stops asking it. Defaults to 30s.
	BreakAfter time.Duration
	// Cooldown is how long the breaker stays open the first time; each
	// opening without a success in between doubles it, up to MaxCooldown.
	// Defaults to 30s.
	Cooldown time.Duration
	// Name identifies this limiter in the values it writes ("by"), for
	// operators. Defaults to the host name (the pod name in Kubernetes).
	Name string
	// Logger receives what the limiter notices (throttled). Defaults to
	// none.
	Logger zerolog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Bucket = cmp.Or(c.Bucket, DefaultBucket)
	c.Burst = cmp.Or(c.Burst, max(1, int(math.Ceil(c.Rate))))
	c.Batch = cmp.Or(c.Batch, 1)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.RetryFor = cmp.Or(c.RetryFor, 5*time.Second)
	c.MaxWait = cmp.Or(c.MaxWait, DefaultMaxWait)
	c.BreakAfter = cmp.Or(c.BreakAfter, DefaultBreakAfter)
	c.Cooldown = cmp.Or(c.Cooldown, DefaultCooldown)
	c.Name = cmp.Or(c.Name, hostname())
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > MaxRate:
		return config.Invalid(ErrInvalidConfig, "Rate", c.Rate, "want 0 (unlimited) to %v requests/s", MaxRate)
	case c.Burst < 1:
		return config.Invalid(ErrInvalidConfig, "Burst", c.Burst, "want at least 1")
	case c.Batch < 1:
		return config.Invalid(ErrInvalidConfig, "Batch", c.Batch, "want at least 1")
	case c.Replicas < 1 || c.Replicas > 5:
		return config.Invalid(ErrInvalidConfig, "Replicas", c.Replicas, "want 1..5")
	case c.RetryFor <= 0:
		return config.Invalid(ErrInvalidConfig, "RetryFor", c.RetryFor, "want > 0")
	case c.MaxWait < 100*time.Millisecond:
		return config.Invalid(ErrInvalidConfig, "MaxWait", c.MaxWait, "want at least 100ms")
	case c.BreakAfter < time.Second:
		return config.Invalid(ErrInvalidConfig, "BreakAfter", c.BreakAfter, "want at least 1s")
	case c.Cooldown < time.Second || c.Cooldown > MaxCooldown:
		return config.Invalid(ErrInvalidConfig, "Cooldown", c.Cooldown, "want 1s..%s", MaxCooldown)
	case !validKey(c.Key):
		return config.Invalid(ErrInvalidConfig, "Key", c.Key, "want letters, digits and -/_=. not starting or ending with a dot")
	case !queue.ValidName(c.Bucket):
		return config.Invalid(ErrInvalidConfig, "Bucket", c.Bucket, "want letters, digits, - and _")
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
