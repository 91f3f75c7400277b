package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// use (Abort excepted). The zero value is not usable: create one with Open.
type Store struct {
	pg   *pgx.ConnConfig
	cfg  Config
	conn *pgx.Conn // nil while there is no session
	log  zerolog.Logger
	// live is the session's network connection, for Abort from another
	// goroutine; guarded by mu.
	mu      sync.Mutex
	live    net.Conn
	aborted atomic.Bool // Abort cut the current session
	opened  int         // sessions opened so far
	// predecessor is the backend pid of the session last dropped, until a
	// new session has seen it gone (awaitPredecessor).
	predecessor uint32
	// remigratedAt is when Config.Remigrate last ran the migrations;
	// broken is the ErrSchemaBroken error found since (SchemaError).
	remigratedAt time.Time
	broken       error
}

// Open parses connString (a postgres:// URL or key=value DSN), then opens the
// Store's one session, retrying transient failures with backoff until ctx is
// done. It returns an error wrapping ErrInvalidConfig for an invalid cfg,
// ErrBadConnString when the string cannot be parsed (the message never
// contains the string, which may hold a password), ErrUntrustedServer or
// ErrGateClosed (see EnsureSession), or, when ctx ends first, an error that
// joins ctx's error with the last attempt's.
func Open(ctx context.Context, connString string, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pg, err := parseConnString(connString)
	if err != nil {
		return nil, err
	}
	pg.RuntimeParams["application_name"] = cfg.ApplicationName
	if cfg.Pooler {
		// A transaction-mode pooler passes no other startup parameter on
		// (the timeouts are set per transaction, see Tx.run) and keeps no
		// prepared statement: each statement goes as one unnamed
		// parse-bind-execute, which it forwards whole.
		pg.DefaultQueryExecMode = pgx.QueryExecModeExec
	} else {
		// Server-side keepalives: a session whose client vanished without
		// a word (network partition) is closed within ~30s instead of ~2h.
		pg.RuntimeParams["tcp_keepalives_idle"] = "15"
		pg.RuntimeParams["tcp_keepalives_interval"] = "5"
		pg.RuntimeParams["tcp_keepalives_count"] = "3"
		if d := cfg.StatementTimeout; d > 0 {
			pg.RuntimeParams["statement_timeout"] = strconv.FormatInt(d.Milliseconds(), 10)
			pg.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(2*d.Milliseconds(), 10)
		}
	}
	if pg.ConnectTimeout == 0 {
		pg.ConnectTimeout = DefaultConnectTimeout
	}
	// pgx ignores libpq's keepalives_* settings: detect a dead peer here.
	dialer := &net.Dialer{
		Timeout:         pg.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3},
	}
	pg.DialFunc = dialer.DialContext
	s := &Store{pg: pg, cfg: cfg, log: cfg.Logger}
	if err := s.EnsureSession(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// EnsureSession returns at once if the session is up. Otherwise it closes
// what is left of the old session and dials a new one, retrying with backoff
// and jitter until it succeeds or ctx is done. It never holds two sessions.
//
// When ctx ends first, the error joins ctx's error with the last attempt's
// ("connect to postgres (3 attempts): context deadline exceeded; last
// attempt: ... too many clients already"), so a caller sees why without
// reading the log. A certificate that does not verify fails at once with
// ErrUntrustedServer; a closed gate with ErrGateClosed.
//
// It logs one warning when connecting starts to fail (with the SQLSTATE, and
// a plain reading of it: "too many connections" for 53300), repeats at debug
// level while the failure stays the same, and logs the recovery.
func (s *Store) EnsureSession(ctx context.Context) error {
	if s.Up() {
		return nil
	}
	s.drop()
	refusal := refusalLog{state: "-"}
	var reason error // the last attempt that failed on its own, not because ctx ended
	for attempt := 1; ; attempt++ {
		if err := s.askGate(ctx); err != nil {
			return err
		}
		conn, err := pgx.ConnectConfig(ctx, s.pg)
		if s.cfg.OnConnect != nil {
			s.cfg.OnConnect(err, s.opened > 0)
		}
		if err == nil {
			s.opened++
			s.adopt(conn)
			if err := s.askGate(ctx); err != nil {
				s.drop()
				return err
			}
			if err := s.checkSession(ctx); err != nil {
				s.drop()
				return err
			}
			// Behind a pooler, sessions are the pooler's: nothing to reap. The
			// check above may have found the session gone (ctx ended): then
			// the loop below dials again.
			if !s.cfg.Pooler && s.Up() {
				s.reapStale(ctx)
				if s.Up() { // ctx may have ended mid-reap, taking the session with it
					s.awaitPredecessor(ctx)
				}
			}
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
		if poolerRefusal(err) {
			return fmt.Errorf("connect to postgres: %w: %w", ErrBehindPooler, err)
		}
		if ended(ctx) {
			if reason == nil {
				reason = err
			}
			return connectError(ctx, attempt, reason)
		}
		reason = err
		delay := s.cfg.ConnectBackoff.Delay(attempt)
		s.logRefusal(&refusal, err, attempt, delay)
		if backoff.Sleep(ctx, delay) != nil {
			return connectError(ctx, attempt, reason)
		}
	}
}

// refusalLog is what EnsureSession has said about the refusals so far.
type refusalLog struct {
	state string    // the SQLSTATE of the last one logged above debug
	since time.Time // when the current run of refusals began
	loud  time.Time // when one was last logged at error level
}

// logRefusal logs a failed connection attempt: the first of each SQLSTATE
// at once (error for a configuration the server refuses: a wrong role,
// password or database; warn otherwise), the others at debug level, and,
// while the refusals go on, the reason at error level at most once per
// Config.RefusedLogEvery, so that a worker that cannot connect says why
// in every minute of its logs.
func (s *Store) logRefusal(r *refusalLog, err error, attempt int, delay time.Duration) {
	now := time.Now()
	if r.since.IsZero() {
		r.since = now
	}
	state := SQLState(err)
	ev := s.log.Debug()
	switch {
	case state != r.state && misconfigured(state):
		ev, r.loud = s.log.Error(), now
	case state != r.state:
		ev, r.loud = s.log.Warn(), now
	case now.Sub(r.loud) >= s.cfg.RefusedLogEvery:
		ev, r.loud = s.log.Error(), now
	}
	r.state = state
	ev.Str("sqlstate", state).Int("attempt", attempt).Str("refused_for", now.Sub(r.since).Round(time.Second).String()).
		Str("retry_in", delay.Round(time.Millisecond).String()).Err(err).
		Msg("postgres refused the session: " + describe(err) + "; waiting (no tasks are taken meanwhile)")
}

// misconfigured reports whether SQLSTATE state means the connection
// settings are wrong (invalid authorization, a database that does not
// exist), not that the server is busy or down.
func misconfigured(state string) bool {
	return strings.HasPrefix(state, "28") || state == "3D000"
}

// ended reports whether ctx is done or its deadline has passed: a dial cut
// short by the deadline can fail a moment before ctx says so.
func ended(ctx context.Context) bool {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return true
	}
	return ctx.Err() != nil
}

// connectError is EnsureSession's error when ctx ended before a session
// opened: ctx's error and why the last attempt that ran its course failed
// (an attempt cut short by ctx says nothing about the server).
func connectError(ctx context.Context, attempts int, last error) error {
	cause := ctx.Err()
	if cause == nil { // the deadline passed a moment before ctx says so
		cause = context.DeadlineExceeded
	}
	return fmt.Errorf("connect to postgres (%d attempts): %w; last attempt: %s: %w", attempts, cause, describe(last), last)
}

// checkSession makes sure, for a Store whose caller relies on its session
// (Config.SessionState), that the session is one: a transaction-mode
// pooler such as PgBouncer hands each transaction whichever server
// connection is free, so session-level advisory locks (the series locks)
// and settings would silently stop meaning anything. Such a pooler that
// ignores the startup parameters it cannot pass on is caught here: the
// statement_timeout the Store asked for is not in force.
func (s *Store) checkSession(ctx context.Context) error {
	if !s.cfg.SessionState || s.cfg.Pooler || s.cfg.StatementTimeout <= 0 {
		return nil
	}
	var ms int64
	err := s.conn.QueryRow(ctx, `SELECT setting::int8 FROM pg_settings WHERE name = 'statement_timeout'`).Scan(&ms)
	s.checkLost(err)
	switch {
	case err != nil:
		return nil // the session is gone: EnsureSession dials again
	case ms != s.cfg.StatementTimeout.Milliseconds():
		return fmt.Errorf("%w: the session's statement_timeout is %d ms, %d ms were asked for: the startup parameters were dropped on the way",
			ErrBehindPooler, ms, s.cfg.StatementTimeout.Milliseconds())
	}
	return nil
}

// poolerRefusal reports whether a connection failed because a pooler
// (PgBouncer) refused a startup parameter the Store sends.
func poolerRefusal(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.Contains(pe.Message, "unsupported startup parameter")
}

// reapStale terminates leftovers of this Store's earlier sessions (see
// Config.ReapStaleSessions). Failing to reap is logged, not fatal.
func (s *Store) reapStale(ctx context.Context) {
	if !s.cfg.ReapStaleSessions {
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

// Epoch identifies the session-level state of the Store (the series
// locks): the number of sessions it opened, or -1 while it has none.
// Locks taken in another epoch are gone. It is runner.Locker's.
func (s *Store) Epoch() int {
	if !s.Up() {
		return -1
	}
	return s.opened
}

// BackendPID is the server process id of the current session, or 0.
func (s *Store) BackendPID() uint32 {
	if !s.Up() {
		return 0
	}
	return s.conn.PgConn().PID()
}

// askGate returns nil when there is no gate or it lets a session open.
func (s *Store) askGate(ctx context.Context) error {
	if s.cfg.ConnectGate == nil {
		return nil
	}
	if err := s.cfg.ConnectGate(ctx); err != nil {
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
	for deadline := time.Now().Add(predecessorWait); time.Now().Before(deadline) && s.Up(); {
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
	if s.cfg.OnSession != nil {
		s.cfg.OnSession(up)
	}
}
