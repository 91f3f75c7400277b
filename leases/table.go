package leases

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"marketfleet/internal/config"
	"marketfleet/market"
	"marketfleet/queue"
)

// DefaultBucket is the KV bucket of the series leases.
const DefaultBucket = "MARKETFLEET_SERIES"

// ErrInvalidConfig is wrapped by Open's error for an invalid Config.
var ErrInvalidConfig = errors.New("invalid series lease configuration")

// Config tunes a Table. Zero fields take the defaults documented on each.
type Config struct {
	// Bucket is the KV bucket. Defaults to DefaultBucket.
	Bucket string
	// Replicas of the bucket's stream (3 in production). Defaults to 1.
	Replicas int
	// Holder names the worker in the leases it takes. Required.
	Holder string
	// TTL is how long a lease outlives its holder's last renewal: a killed
	// worker's series are free again after at most TTL. Renewed every
	// TTL/3. Defaults to 30s; at least 1s.
	TTL time.Duration
	// Logger receives lost leases. Defaults to none.
	Logger zerolog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Bucket = cmp.Or(c.Bucket, DefaultBucket)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.TTL = cmp.Or(c.TTL, 30*time.Second)
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case !queue.ValidName(c.Bucket):
		return config.Invalid(ErrInvalidConfig, "Bucket", c.Bucket, "want letters, digits, - and _")
	case c.Replicas < 1 || c.Replicas > 5:
		return config.Invalid(ErrInvalidConfig, "Replicas", c.Replicas, "want 1..5")
	case c.Holder == "":
		return config.Invalid(ErrInvalidConfig, "Holder", c.Holder, "want the worker's id")
	case c.TTL < time.Second:
		return config.Invalid(ErrInvalidConfig, "TTL", c.TTL, "want at least 1s")
	}
	return nil
}

// Table takes and keeps one worker's series leases. Create it with Open and
// stop it with Close. Safe for concurrent use.
type Table struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	cfg    Config
	prefix string // subject prefix of the bucket's keys
	log    zerolog.Logger

	mu    sync.Mutex
	held  map[string]uint64 // key -> revision of the lease this worker holds
	epoch int

	stop, done chan struct{}
	stopOnce   sync.Once
}

// Open creates the bucket if need be (safe to race) and starts renewing.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Table, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:         cfg.Bucket,
		Description:    "marketfleet series leases: one key per series whose task a worker runs (behind a connection pooler)",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
		LimitMarkerTTL: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	t := &Table{js: js, kv: kv, cfg: cfg, prefix: "$KV." + cfg.Bucket + ".", log: cfg.Logger,
		held: map[string]uint64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go t.renewLoop()
	return t, nil
}

// Key is the bucket key of a series' lease (symbols hold characters keys
// may not).
func Key(s market.Series) string {
	sum := sha256.Sum256([]byte(s.Symbol + "/" + string(s.Interval)))
	return "series." + hex.EncodeToString(sum[:16])
}

// maxInFlight bounds the KV requests of one LockSeries or UnlockSeries.
const maxInFlight = 32

// LockSeries tries to take the lease of each series and reports which it
// took; false means another worker holds it. On an error none is held (the
// ones taken are released).
func (t *Table) LockSeries(ctx context.Context, series []market.Series) ([]bool, error) {
	took := make([]bool, len(series))
	revs := make([]uint64, len(series))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxInFlight)
	for i, s := range series {
		g.Go(func() error {
			rev, err := t.kv.Create(gctx, Key(s), []byte(t.cfg.Holder), jetstream.KeyTTL(t.cfg.TTL))
			switch {
			case err == nil:
				took[i], revs[i] = true, rev
			case errors.Is(err, jetstream.ErrKeyExists):
			default:
				return fmt.Errorf("take the lease of %s: %w", s, err)
			}
			return nil
		})
	}
	err := g.Wait()
	t.mu.Lock()
	for i, s := range series {
		if took[i] {
			t.held[Key(s)] = revs[i]
		}
	}
	t.mu.Unlock()
	if err != nil {
		var taken []market.Series
		for i, s := range series {
			if took[i] {
				taken = append(taken, s)
			}
		}
		_ = t.UnlockSeries(context.WithoutCancel(ctx), taken)
		return nil, err
	}
	return took, nil
}

// UnlockSeries releases the leases of series this worker holds (others are
// skipped: a lease it lost is another worker's now).
func (t *Table) UnlockSeries(ctx context.Context, series []market.Series) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxInFlight)
	for _, s := range series {
		key := Key(s)
		t.mu.Lock()
		rev, ok := t.held[key]
		delete(t.held, key)
		t.mu.Unlock()
		if !ok {
			continue
		}
		g.Go(func() error {
			err := t.kv.Delete(gctx, key, jetstream.LastRevision(rev))
			if err != nil && !isTaken(err) && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("release the lease of %s: %w", s, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Epoch counts the leases this worker lost while it held them: locks taken
// in an earlier epoch may be gone, and must be taken again before writing.
func (t *Table) Epoch() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.epoch
}

// Held is how many leases this worker holds.
func (t *Table) Held() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.held)
}

// StopRenewing stops the renewals, leaving every lease held to expire:
// what a killed worker does (for tests).
func (t *Table) StopRenewing() {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
}

// Close stops renewing and releases every lease held.
func (t *Table) Close(ctx context.Context) error {
	t.StopRenewing()
	t.mu.Lock()
	keys := make(map[string]uint64, len(t.held))
	for k, rev := range t.held {
		keys[k] = rev
	}
	t.held = map[string]uint64{}
	t.mu.Unlock()
	var errs []error
	for k, rev := range keys {
		if err := t.kv.Delete(ctx, k, jetstream.LastRevision(rev)); err != nil && !isTaken(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// renewLoop renews every held lease each TTL/3.
func (t *Table) renewLoop() {
	defer close(t.done)
	tick := time.NewTicker(t.cfg.TTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.renew()
		}
	}
}

// renew writes every held lease again, expecting its revision. A lease
// that is gone or another's was lost: it is dropped, and the epoch moves.
func (t *Table) renew() {
	t.mu.Lock()
	keys := make(map[string]uint64, len(t.held))
	for k, rev := range t.held {
		keys[k] = rev
	}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.TTL/3)
	defer cancel()
	var mu sync.Mutex
	lost := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	for k, rev := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			next, err := t.put(ctx, k, rev)
			t.mu.Lock()
			defer t.mu.Unlock()
			cur, still := t.held[k]
			switch {
			case !still || cur != rev: // released (or taken anew) meanwhile
			case err == nil:
				t.held[k] = next
			case isTaken(err):
				delete(t.held, k)
				mu.Lock()
				lost++
				mu.Unlock()
			default: // NATS unreachable: try again next time; the TTL decides
			}
		})
	}
	wg.Wait()
	if lost > 0 {
		t.mu.Lock()
		t.epoch++
		t.mu.Unlock()
		t.log.Warn().Int("leases", lost).Msg("series leases lost (expired before their renewal, or deleted): their tasks take them again before writing")
	}
}

// put writes this worker's lease under key again, with the TTL, expecting
// the key's last revision to be expect (the one it holds).
func (t *Table) put(ctx context.Context, key string, expect uint64) (uint64, error) {
	ack, err := t.js.PublishMsg(ctx, &nats.Msg{Subject: t.prefix + key, Data: []byte(t.cfg.Holder)},
		jetstream.WithMsgTTL(t.cfg.TTL), jetstream.WithExpectLastSequencePerSubject(expect))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// isTaken reports whether err is a failed expectation: the key is not at
// the revision expected (another worker's lease, or none any more).
func isTaken(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
