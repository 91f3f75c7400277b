package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"marketfleet/internal/backoff"
	"marketfleet/internal/tlsfail"
)

// DefaultConnectTimeout bounds one connection attempt when the connection
// string sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// closeTimeout bounds the goodbye to a session being replaced or closed.
const closeTimeout = 5 * time.Second

// predecessorWait bounds how long a new session waits for the server to let
// go of the one it replaces (see awaitPredecessor).
const predecessorWait = 2 * time.Second

// Store owns exactly one PostgreSQL session. It is not safe for concurrent
// use. The zero value is not usable: create one with Open.
type Store struct {
	cfg     *pgx.ConnConfig
	conn    *pgx.Conn // nil while there is no session
	log     zerolog.Logger
	backoff backoff.Policy
	onState func(up bool)
	// beforeCommit is a fault-test hook; see WithBeforeCommit.
	beforeCommit func(ctx context.Context)
	reap         bool
	gate         func(ctx context.Context) error
	onConnect    func(err error, replacing bool)
	// live is the session's network connection, for Abort from another
	// goroutine; guarded by mu.
	mu      sync.Mutex
	live    net.Conn
	aborted atomic.Bool // Abort cut the current session
	opened  int         // sessions opened so far
	// predecessor is the backend pid of the session last dropped, until a
	// new session has seen it gone (awaitPredecessor).
	predecessor uint32
}

type options struct {
	appName      string
	log          zerolog.Logger
	backoff      backoff.Policy
	onState      func(up bool)
	stmtTimeout  time.Duration
	beforeCommit func(ctx context.Context)
	reap         bool
	gate         func(ctx context.Context) error
	onConnect    func(err error, replacing bool)
}

// Option configures Open.
type Option func(*options)

// WithApplicationName sets the session's application_name, which is how the
// fleet's sessions are counted in pg_stat_activity. Defaults to "marketfleet".
// It overrides any application_name in the connection string.
func WithApplicationName(name string) Option {
	return func(o *options) { o.appName = name }
}

// WithLogger sets the logger for session events (connect, reconnect, migrate).
// Defaults to zerolog.Nop(). The connection string is never logged.
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithConnectBackoff sets the delays between connection attempts. Defaults to
// 250ms doubling up to 30s, with jitter.
func WithConnectBackoff(p backoff.Policy) Option {
	return func(o *options) { o.backoff = p }
}

// WithSessionHook registers fn, called with true when a session opens and
// false when it is lost or closed (for a session-up gauge). Defaults to none.
func WithSessionHook(fn func(up bool)) Option {
	return func(o *options) { o.onState = fn }
}

// WithStatementTimeout makes the server cancel any statement running longer
// than d (SQLSTATE 57014, transient) and end a session left idle inside a
// transaction for 2d, so that a stuck worker cannot hold locks. Defaults to
// 30s; 0 keeps the server's settings.
func WithStatementTimeout(d time.Duration) Option {
	return func(o *options) { o.stmtTimeout = d }
}

// WithReapStaleSessions makes every new session terminate the other
// sessions of the same role and application_name in the same database:
// remnants of this process's earlier sessions that a broken network left
// open on the server (half-open TCP), which would otherwise hold a
// connection slot until the server's keepalive noticed. Only for an
// application_name no other process uses, such as a worker's
// "marketfleet-worker/<id>". Defaults to off.
func WithReapStaleSessions() Option {
	return func(o *options) { o.reap = true }
}

// WithBeforeCommit calls fn inside every WriteBars transaction, after the
// upsert and before the commit. Fault tests use it to kill or cut off a
// worker at exactly that point; production code has no reason to.
func WithBeforeCommit(fn func(ctx context.Context)) Option {
	return func(o *options) { o.beforeCommit = fn }
}

// WithConnectGate makes every connection attempt ask gate first: when gate
// returns an error, no session is dialed and Open or EnsureSession returns
// an error wrapping ErrGateClosed and gate's error, without retrying. A
// worker passes its budget lease here, so that no code path can open a
// session without holding a slot. gate is asked again once the session is
// up, and the session is closed at once if the answer has changed. Defaults
// to none (always open).
func WithConnectGate(gate func(ctx context.Context) error) Option {
	return func(o *options) { o.gate = gate }
}

// WithConnectHook calls fn after every connection attempt with its error
// (nil on success) and whether the session replaces a lost one (false for
// the first session of the Store), for metrics. Defaults to none.
func WithConnectHook(fn func(err error, replacing bool)) Option {
	return func(o *options) { o.onConnect = fn }
}

// Open parses connString (a postgres:// URL or key=value DSN), then opens the
// Store's one session, retrying transient failures with backoff until ctx is
// done. It returns an error wrapping ErrBadConnString when the string cannot
// be parsed (the message never contains the string, which may hold a
// password), or the last connection error when ctx ends first.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	o := options{appName: "marketfleet", log: zerolog.Nop(), backoff: backoff.Default, stmtTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		// ParseConfigError keeps the raw string and its inner error may quote
		// it: report neither.
		return nil, ErrBadConnString
	}
	cfg.RuntimeParams["application_name"] = o.appName
	// Server-side keepalives: a session whose client vanished without a
	// word (network partition) is closed within ~30s instead of ~2h.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "15"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "5"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	if o.stmtTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.stmtTimeout.Milliseconds(), 10)
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(2*o.stmtTimeout.Milliseconds(), 10)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	// pgx ignores libpq's keepalives_* settings: detect a dead peer here.
	dialer := &net.Dialer{
		Timeout:         cfg.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3},
	}
	cfg.DialFunc = dialer.DialContext
	s := &Store{cfg: cfg, log: o.log, backoff: o.backoff, onState: o.onState, beforeCommit: o.beforeCommit, reap: o.reap, gate: o.gate, onConnect: o.onConnect}
	if err := s.EnsureSession(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// EnsureSession returns at once if the session is up. Otherwise it closes
// what is left of the old session and dials a new one, retrying with backoff
// and jitter until it succeeds or ctx is done (then it returns the last
// connection error, wrapped). It never holds two sessions.
//
// It logs one warning when connecting starts to fail (with the SQLSTATE, and
// a plain reading of it: "too many connections" for 53300), repeats at debug
// level while the failure stays the same, and logs the recovery.
func (s *Store) EnsureSession(ctx context.Context) error {
	if s.Up() {
		return nil
	}
	s.drop()
	lastState := "-"
	for attempt := 1; ; attempt++ {
		if err := s.askGate(ctx); err != nil {
			return err
		}
		conn, err := pgx.ConnectConfig(ctx, s.cfg)
		if s.onConnect != nil {
			s.onConnect(err, s.opened > 0)
		}
		if err == nil {
			s.opened++
			s.adopt(conn)
			if err := s.askGate(ctx); err != nil {
				s.drop()
				return err
			}
			s.reapStale(ctx)
			s.awaitPredecessor(ctx)
		}
		if err == nil && s.Up() {
			s.log.Info().Uint32("backend_pid", conn.PgConn().PID()).Int("attempt", attempt).Msg("postgres session opened")
			s.setState(true)
			return nil
		}
		if err == nil {
			err = ErrNoSession // lost while reaping: dial again
		}
		if tlsfail.Unverified(err) {
			return fmt.Errorf("connect to postgres: %w: %w", ErrUntrustedServer, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to postgres: %w", errors.Join(ctx.Err(), err))
		}
		delay := s.backoff.Delay(attempt)
		state := SQLState(err)
		ev := s.log.Debug()
		if state != lastState {
			ev = s.log.Warn()
			lastState = state
		}
		ev.Str("sqlstate", state).Int("attempt", attempt).Dur("retry_in", delay).Err(err).
			Msg("postgres refused the session: " + describe(err) + "; waiting (no tasks are taken meanwhile)")
		if err := backoff.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("connect to postgres: %w", err)
		}
	}
}

// reapStale terminates leftovers of this Store's earlier sessions (see
// WithReapStaleSessions). Failing to reap is logged, not fatal.
func (s *Store) reapStale(ctx context.Context) {
	if !s.reap {
		return
	}
	var n int
	err := s.conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity
		WHERE application_name = current_setting('application_name') AND usename = current_user
		  AND datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	s.checkLost(err)
	switch {
	case err != nil:
		s.log.Warn().Err(err).Msg("could not look for stale sessions of this worker")
	case n > 0:
		s.log.Warn().Int("sessions", n).Msg("terminated stale sessions of this worker that a broken connection left on the server")
	}
}

// Up reports whether the Store holds a live session, as far as it knows
// without a round trip.
func (s *Store) Up() bool { return s.conn != nil && !s.conn.IsClosed() && !s.aborted.Load() }

// Opened is how many sessions the Store has opened so far. Session-level
// state (the series locks) taken while it read n is gone once it reads more.
func (s *Store) Opened() int { return s.opened }

// BackendPID is the server process id of the current session, or 0.
func (s *Store) BackendPID() uint32 {
	if !s.Up() {
		return 0
	}
	return s.conn.PgConn().PID()
}

// askGate returns nil when there is no gate or it lets a session open.
func (s *Store) askGate(ctx context.Context) error {
	if s.gate == nil {
		return nil
	}
	if err := s.gate(ctx); err != nil {
		return fmt.Errorf("connect to postgres: %w: %w", ErrGateClosed, err)
	}
	return nil
}

// adopt makes conn the Store's session.
func (s *Store) adopt(conn *pgx.Conn) {
	s.conn = conn
	s.mu.Lock()
	s.live = conn.PgConn().Conn()
	s.aborted.Store(false)
	s.mu.Unlock()
}

// forget clears the session after it was closed.
func (s *Store) forget() {
	s.conn = nil
	s.mu.Lock()
	s.live = nil
	s.mu.Unlock()
	s.setState(false)
}

// Abort cuts the session's network connection at once. Unlike every other
// method it is safe to call from any goroutine, while a statement runs: the
// statement fails, the transaction is rolled back by the server, and the
// next EnsureSession dials again (if its gate allows). A worker calls it
// when it loses its budget slot, so that its session is gone before another
// worker may take the slot. It is a no-op without a session.
func (s *Store) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live != nil {
		s.aborted.Store(true)
		_ = s.live.Close()
	}
}

// Close ends the session. It is safe to call more than once.
func (s *Store) Close(ctx context.Context) error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(ctx)
	s.forget()
	if err != nil {
		return fmt.Errorf("close postgres session: %w", err)
	}
	return nil
}

// drop discards the current session, if any, closing it first.
func (s *Store) drop() {
	if s.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	s.predecessor = s.conn.PgConn().PID()
	_ = s.conn.Close(ctx) // the session is already broken or being replaced
	s.forget()
}

// awaitPredecessor waits, up to predecessorWait, until the server has let
// go of the session this one replaces. A terminated backend takes a moment
// to exit, and until it has, it still holds its session-level advisory
// locks: the series locks a replayed batch takes again would read as busy.
// Past the wait (a backend the server still believes alive, behind a
// broken network) it goes on; those locks then read as busy, and their
// tasks are retried.
func (s *Store) awaitPredecessor(ctx context.Context) {
	pid := s.predecessor
	s.predecessor = 0
	if pid == 0 {
		return
	}
	// The deadline bounds the polling, not a query: a query cancelled
	// mid-flight would cost the new session.
	for deadline := time.Now().Add(predecessorWait); time.Now().Before(deadline); {
		var alive bool
		err := s.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1)
			OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, int32(pid)).Scan(&alive)
		s.checkLost(err)
		if err != nil || !alive || backoff.Sleep(ctx, 10*time.Millisecond) != nil {
			return
		}
	}
}

// session returns the live connection or ErrNoSession.
func (s *Store) session() (*pgx.Conn, error) {
	if !s.Up() {
		return nil, ErrNoSession
	}
	return s.conn, nil
}

// checkLost drops the session when err left it closed, so that the next
// EnsureSession dials a fresh one.
func (s *Store) checkLost(err error) {
	if err != nil && s.conn != nil && s.conn.IsClosed() {
		s.log.Warn().Str("sqlstate", SQLState(err)).Err(err).Msg("postgres session lost")
		s.drop()
	}
}

func (s *Store) setState(up bool) {
	if s.onState != nil {
		s.onState(up)
	}
}
