package slots

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/internal/config"
	"marketfleet/queue"
)

// DefaultBucket is the KV bucket of the slots.
const DefaultBucket = "MARKETFLEET_SLOTS"

// Key names in the bucket.
const (
	slotPrefix = "slot."
	waitPrefix = "wait."
	limitKey   = "budget"
)

// Config tunes a Table. Zero fields take the defaults documented on each.
type Config struct {
	// Bucket is the KV bucket. Defaults to DefaultBucket.
	Bucket string
	// Replicas of the bucket's stream (3 in production). Defaults to 1.
	Replicas int
	// TTL is how long a lease outlives its holder's last renewal. A killed
	// worker's slot is free again after at most TTL. Defaults to 15s;
	// at least 1s.
	TTL time.Duration
	// Renew is the renewal period. Defaults to TTL/5.
	Renew time.Duration
	// Poll bounds how long a waiting worker goes without trying again when
	// it hears nothing from the bucket. Defaults to 2s.
	Poll time.Duration
	// LimitTTL is how long a published budget stays valid without being
	// published again. Defaults to 4·TTL.
	LimitTTL time.Duration
	// Database names the database the budget is computed for (host, port
	// and name, see store.Identity): the budget is published and read
	// under a key of its own, so that fleets of two databases sharing one
	// NATS never take each other's budget. Defaults to "" (one key).
	Database string
	// Logger receives lease events. Defaults to none.
	Logger zerolog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Bucket = cmp.Or(c.Bucket, DefaultBucket)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.TTL = cmp.Or(c.TTL, 15*time.Second)
	c.Poll = cmp.Or(c.Poll, 2*time.Second)
	return c
}

// resolved sets the defaults that depend on another field (Renew and
// LimitTTL on TTL). They are not set by WithDefaults, so that a TTL changed
// after it still moves them.
func (c Config) resolved() Config {
	if c.Renew == 0 {
		c.Renew = c.TTL / 5
	}
	if c.LimitTTL == 0 {
		c.LimitTTL = 4 * c.TTL
	}
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.resolved()
	switch {
	case !queue.ValidName(c.Bucket):
		return config.Invalid(ErrInvalidConfig, "Bucket", c.Bucket, "want letters, digits, - and _")
	case c.Replicas < 1 || c.Replicas > 5:
		return config.Invalid(ErrInvalidConfig, "Replicas", c.Replicas, "want 1..5")
	case c.TTL < time.Second:
		return config.Invalid(ErrInvalidConfig, "TTL", c.TTL, "want at least 1s")
	case c.Renew <= 0 || c.Renew > c.TTL/3:
		return config.Invalid(ErrInvalidConfig, "Renew", c.Renew, "want (0, TTL/3 = %s]", c.TTL/3)
	case c.Poll <= 0:
		return config.Invalid(ErrInvalidConfig, "Poll", c.Poll, "want > 0")
	case c.LimitTTL < time.Second:
		return config.Invalid(ErrInvalidConfig, "LimitTTL", c.LimitTTL, "want at least 1s")
	}
	return nil
}

// Table is the fleet's slot table in one KV bucket. It is safe for
// concurrent use.
type Table struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	cfg    Config
	prefix string // subject prefix of the bucket's keys
	log    zerolog.Logger
}

// Open returns the slot table, creating its bucket (file storage, history
// 1, per-key TTLs with delete markers) when it does not exist. It returns an
// error wrapping ErrInvalidConfig for a bad cfg, or the JetStream error.
// The server must be 2.11 or later (per-key TTLs).
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Table, error) {
	cfg = cfg.WithDefaults().resolved()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:         cfg.Bucket,
		Description:    "marketfleet connection budget: one key per PostgreSQL session the fleet may hold",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
		LimitMarkerTTL: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("slots: %w", err)
	}
	return &Table{js: js, kv: kv, cfg: cfg, prefix: "$KV." + cfg.Bucket + ".", log: cfg.Logger}, nil
}

// Config returns the table's configuration with defaults applied.
func (t *Table) Config() Config { return t.cfg }

// put writes value under key with a TTL. With expect set, the write succeeds
// only if the key's latest revision is *expect.
func (t *Table) put(ctx context.Context, key string, value []byte, ttl time.Duration, expect *uint64) (uint64, error) {
	opts := []jetstream.PublishOpt{jetstream.WithMsgTTL(ttl)}
	if expect != nil {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(*expect))
	}
	ack, err := t.js.PublishMsg(ctx, &nats.Msg{Subject: t.prefix + key, Data: value}, opts...)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// Limit is a published budget.
type Limit struct {
	// Slots is the number of slots the fleet may hold.
	Slots int `json:"slots"`
	// By is the worker that computed it, At when.
	By string    `json:"by"`
	At time.Time `json:"at"`
	// Database is the database it was computed for (Config.Database).
	Database string `json:"database,omitempty"`
	// Arithmetic is how it was computed (budget.Budget.Arithmetic), for
	// people: a budget of 0 says why.
	Arithmetic string `json:"arithmetic,omitempty"`
}

// limitKey is the key of the budget of the Table's database.
func (t *Table) limitKey() string {
	if t.cfg.Database == "" {
		return limitKey
	}
	sum := sha256.Sum256([]byte(t.cfg.Database))
	return limitKey + "." + hex.EncodeToString(sum[:8])
}

// PublishLimit publishes the budget for every worker to read. It expires
// after LimitTTL unless published again.
func (t *Table) PublishLimit(ctx context.Context, l Limit) error {
	b, err := json.Marshal(l)
	if err == nil {
		_, err = t.put(ctx, t.limitKey(), b, t.cfg.LimitTTL, nil)
	}
	if err != nil {
		return fmt.Errorf("publish budget: %w", err)
	}
	return nil
}

// CurrentLimit returns the published budget, and false when none is
// (no slot-0 holder has published one within LimitTTL).
func (t *Table) CurrentLimit(ctx context.Context) (Limit, bool, error) {
	e, err := t.kv.Get(ctx, t.limitKey())
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Limit{}, false, nil
	}
	if err != nil {
		return Limit{}, false, fmt.Errorf("read budget: %w", err)
	}
	var l Limit
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return Limit{}, false, fmt.Errorf("read budget: %w", err)
	}
	return l, true, nil
}

// Holder is a worker holding a slot or waiting for one.
type Holder struct {
	Slot   int       `json:"slot"` // -1 for a waiting worker
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
}

// State is what the bucket holds now.
type State struct {
	Held    []Holder `json:"held"`
	Waiting []Holder `json:"waiting"`
	Limit   *Limit   `json:"budget,omitempty"`
}

// State reads every live key of the bucket; Limit is the budget of the
// Table's database.
func (t *Table) State(ctx context.Context) (State, error) {
	var st State
	w, err := t.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return st, fmt.Errorf("read slots: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("read slots: %w", ctx.Err())
		case e := <-w.Updates():
			if e == nil { // end of the current values
				return st, nil
			}
			st.add(e, t.limitKey())
		}
	}
}

func (st *State) add(e jetstream.KeyValueEntry, ownLimit string) {
	key := e.Key()
	switch {
	case key == ownLimit:
		var l Limit
		if json.Unmarshal(e.Value(), &l) == nil {
			st.Limit = &l
		}
	case strings.HasPrefix(key, slotPrefix), strings.HasPrefix(key, waitPrefix):
		var h Holder
		if json.Unmarshal(e.Value(), &h) != nil {
			return
		}
		if i, err := strconv.Atoi(strings.TrimPrefix(key, slotPrefix)); err == nil && strings.HasPrefix(key, slotPrefix) {
			h.Slot = i
			st.Held = append(st.Held, h)
			return
		}
		h.Slot = -1
		st.Waiting = append(st.Waiting, h)
	}
}

func slotKey(i int) string { return slotPrefix + strconv.Itoa(i) }
