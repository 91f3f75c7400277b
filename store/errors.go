package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"marketfleet/outcome"
)

// ErrBadConnString means the connection string could not be parsed. The
// error deliberately carries no detail: pgx's parse errors can quote the
// string, and the string can hold a password.
var ErrBadConnString = errors.New("invalid PostgreSQL connection string (want postgres://user@host:port/db?params or key=value pairs)")

// ErrConnFile is wrapped by Open's and Identity's error when the connection
// string names a file (sslrootcert, sslcert, sslkey) that cannot be read;
// the error names the file and why (no such file, permission denied).
var ErrConnFile = errors.New("a file named in the PostgreSQL connection string cannot be read")

// ErrBehindPooler is wrapped by Open's and EnsureSession's error when the
// connection goes through a transaction-mode pooler such as PgBouncer:
// one that refused a startup parameter, or (for a Store that relies on its
// session, Config.SessionState) one that silently dropped them. Behind
// such a pooler the series locks, which are session-level, would not
// exclude anything. Not retried: the configuration must change.
var ErrBehindPooler = errors.New("DATABASE_URL goes through a transaction-mode connection pooler (such as PgBouncer): " +
	"set FLEET_DB_POOLER=pgbouncer (the series locks become NATS KV leases), or point DATABASE_URL at the server itself")

// ErrUntrustedServer is wrapped by Open and EnsureSession when the server's
// TLS certificate does not verify (sslmode=verify-ca or verify-full with
// sslrootcert): a wrong CA, an expired certificate, another host name. The
// connection fails closed, never falls back to plaintext, and is not
// retried: the configuration or the server must change.
var ErrUntrustedServer = errors.New("the PostgreSQL server's TLS certificate does not verify")

// ErrNoSession is returned by queries made while the Store holds no session
// (after it was lost and before EnsureSession restored it). Transient.
var ErrNoSession = errors.New("no postgres session")

// ErrInvalidConfig is wrapped by Open's error for an invalid Config.
var ErrInvalidConfig = errors.New("invalid store configuration")

// ErrInvalidAudit is wrapped by Audit's error for an AuditQuery it cannot
// run (an exact audit without its series and window): a caller's mistake,
// outcome.Invalid.
var ErrInvalidAudit = outcome.Mark(outcome.Invalid, errors.New("invalid audit query"))

// ErrGateClosed is wrapped by Open and EnsureSession when the connect gate
// (Config.ConnectGate) refused a session: for a worker, it no longer holds its
// budget slot. Transient for the tasks in hand; the worker must not retry
// before it holds a slot again.
var ErrGateClosed = errors.New("no session allowed (connect gate closed)")

// ErrSchemaBroken is wrapped by the errors of statements that failed
// because a table or column does not exist after Config.Remigrate already
// ran the migrations (or found none missing): a schema changed by hand
// that no migration repairs. A worker stops on it (SchemaError), saying
// which relation is missing, instead of retrying every task until it is
// exhausted.
var ErrSchemaBroken = errors.New("the database schema is broken: a table or column the migrations created is missing")

// SQLSTATE codes the fleet reacts to.
const (
	CodeTooManyConnections = "53300" // too_many_connections
	CodeAdminShutdown      = "57P01" // admin_shutdown: pg_terminate_backend, fast shutdown
	CodeCrashShutdown      = "57P02" // crash_shutdown
	CodeCannotConnectNow   = "57P03" // cannot_connect_now: starting up or shutting down
	CodeQueryCanceled      = "57014" // query_canceled: statement_timeout
	CodeSerialization      = "40001" // serialization_failure
	CodeDeadlock           = "40P01" // deadlock_detected
	CodeIdleInTxTimeout    = "25P03" // idle_in_transaction_session_timeout
	CodeLockNotAvailable   = "55P03" // lock_not_available
	CodeUndefinedTable     = "42P01" // undefined_table
	CodeUndefinedColumn    = "42703" // undefined_column
)

// mark marks err with its outcome class by SQLSTATE, never by message text:
// data the database refuses (classes 22 data exception and 23 integrity
// violation) is outcome.Data, permanent; anything else stays transient (a
// lost session, overload, shutdown, conflicts, timeouts, and problems an
// operator can fix, such as a missing privilege).
func mark(err error) error {
	if code := SQLState(err); len(code) == 5 && (code[:2] == "22" || code[:2] == "23") {
		return outcome.Mark(outcome.Data, err)
	}
	return err
}

// SQLState returns the SQLSTATE of err, or "" if err carries none.
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// describe reads a connection error for a person.
func describe(err error) string {
	switch code := SQLState(err); {
	case code == CodeTooManyConnections:
		return "too many connections"
	case code == CodeCannotConnectNow:
		return "the server is starting up or shutting down"
	case code == "28P01" || code == "28000":
		return "authentication failed"
	case code == "3D000":
		return "the database does not exist"
	case code != "":
		return "SQLSTATE " + code
	}
	return "unreachable"
}

// FailureClass names the kind of a failed connection attempt with few
// values, for a metric label: the SQLSTATE class (the first two characters,
// such as "53" insufficient resources, "57" operator intervention, "28"
// invalid authorization, "08" connection exception), "canceled" when the
// context ended, or "network".
func FailureClass(err error) string {
	switch code := SQLState(err); {
	case len(code) == 5:
		return code[:2]
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "network"
}
