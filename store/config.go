package store

import (
	"cmp"
	"context"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/internal/backoff"
	"marketfleet/internal/config"
)

// Config tunes a Store. Zero fields take the defaults documented on each.
type Config struct {
	// ApplicationName is the session's application_name, which is how the
	// fleet's sessions are counted in pg_stat_activity. It overrides any
	// application_name in the connection string. Defaults to "marketfleet";
	// at most 63 bytes.
	ApplicationName string
	// Logger receives session events (connect, reconnect, migrate). The
	// connection string is never logged. Defaults to none (a zero Logger
	// writes nothing).
	Logger zerolog.Logger
	// ConnectBackoff is the delay between connection attempts. Defaults to
	// 250ms doubling up to 30s, with jitter.
	ConnectBackoff backoff.Policy
	// StatementTimeout makes the server cancel any statement running longer
	// (SQLSTATE 57014, transient) and end a session left idle inside a
	// transaction for twice as long, so that a stuck worker cannot hold
	// locks. Defaults to 30s; negative keeps the server's settings.
	StatementTimeout time.Duration
	// ReapStaleSessions makes every new session terminate the other
	// sessions of the same role and application_name in the same database:
	// remnants of this process's earlier sessions that a broken network left
	// open on the server (half-open TCP), which would otherwise hold a
	// connection slot until the server's keepalive noticed. Only for an
	// application_name no other process uses, such as a worker's
	// "marketfleet-worker/<id>". Defaults to off.
	ReapStaleSessions bool
	// ConnectGate, if set, is asked before every connection attempt: when it
	// returns an error, no session is dialed and Open or EnsureSession
	// returns an error wrapping ErrGateClosed and the gate's, without
	// retrying. A worker passes its budget lease here, so that no code path
	// can open a session without holding a slot. The gate is asked again
	// once the session is up, and the session is closed at once if the
	// answer has changed. Defaults to none (always open).
	ConnectGate func(ctx context.Context) error
	// Pooler says that connString goes through a transaction-mode pooler
	// such as PgBouncer (FLEET_DB_POOLER): statements are sent without
	// prepared statements (pgx QueryExecModeExec), the timeouts are set with
	// set_config(..., true) at the start of each transaction instead of as
	// startup parameters (statements outside a transaction have only their
	// context's deadline), and nothing session-level is relied on (no stale
	// session reaping). The series locks must then come from elsewhere
	// (package leases). Defaults to off.
	Pooler bool
	// SessionState says that the caller relies on its session being one
	// PostgreSQL backend: the series locks are session-level advisory
	// locks. A new session then checks that its startup parameters are in
	// force, which a transaction-mode pooler silently breaks, and fails
	// with ErrBehindPooler if not. Workers set it. Defaults to off.
	SessionState bool
	// RefusedLogEvery is how often a connection the server keeps refusing
	// (a wrong password, a missing database, too many connections) is
	// logged at error level while EnsureSession keeps trying: the first
	// refusal of each kind is logged at once (warn; error for a wrong role,
	// password or database), then the reason at most once per period.
	// Defaults to 1 minute.
	RefusedLogEvery time.Duration
	// Remigrate makes a statement that fails because a table or column does
	// not exist (SQLSTATE 42P01, 42703: the database was dropped and
	// recreated under a running worker) run the migrations, under their
	// lock; the statement's error is returned as it is (transient: the
	// task is retried on the migrated schema). The same failure again
	// within 10 minutes of that (the migrations ran, the table is still
	// missing: a schema changed by hand) is ErrSchemaBroken. Defaults to
	// off (such errors are transient).
	Remigrate bool
	// OnSession, if set, is called with true when a session opens and false
	// when it is lost or closed (for a session-up gauge).
	OnSession func(up bool)
	// OnConnect, if set, is called after every connection attempt with its
	// error (nil on success) and whether the session replaces a lost one
	// (false for the Store's first session), for metrics.
	OnConnect func(err error, replacing bool)
}

// DefaultStatementTimeout is Config.StatementTimeout's default.
const DefaultStatementTimeout = 30 * time.Second

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.ApplicationName = cmp.Or(c.ApplicationName, "marketfleet")
	c.ConnectBackoff = cmp.Or(c.ConnectBackoff, backoff.Default)
	c.StatementTimeout = cmp.Or(c.StatementTimeout, DefaultStatementTimeout)
	c.RefusedLogEvery = cmp.Or(c.RefusedLogEvery, time.Minute)
	return c
}

// Validate checks c (after WithDefaults); the error is a *config.FieldError
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case len(c.ApplicationName) > 63:
		return config.Invalid(ErrInvalidConfig, "ApplicationName", c.ApplicationName, "want at most 63 bytes")
	case c.StatementTimeout == 0 || c.StatementTimeout > 0 && c.StatementTimeout < 100*time.Millisecond:
		return config.Invalid(ErrInvalidConfig, "StatementTimeout", c.StatementTimeout, "want at least 100ms (or negative: the server's)")
	case c.ConnectBackoff.Base <= 0:
		return config.Invalid(ErrInvalidConfig, "ConnectBackoff.Base", c.ConnectBackoff.Base, "want > 0")
	case c.ConnectBackoff.Max < c.ConnectBackoff.Base:
		return config.Invalid(ErrInvalidConfig, "ConnectBackoff.Max", c.ConnectBackoff.Max, "want at least ConnectBackoff.Base (%s)", c.ConnectBackoff.Base)
	}
	return nil
}
