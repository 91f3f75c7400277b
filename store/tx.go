package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"marketfleet/market"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what a statement needs: the session or a transaction on it.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// do runs fn on the session, outside a transaction. Every statement of the
// Store that is not part of a Tx goes through here: without a session it
// fails with ErrNoSession; a session the error left closed is dropped (the
// next EnsureSession dials a new one); the error is marked with its outcome
// class and wrapped "op: ...".
func (s *Store) do(op string, fn func(conn *pgx.Conn) error) error {
	conn, err := s.session()
	if err == nil {
		err = fn(conn)
		s.checkLost(err)
	}
	if err != nil {
		return s.undefined(context.Background(), fmt.Errorf("%s: %w", op, mark(err)))
	}
	return nil
}

// remigrateWindow is how long after a re-migration (Config.Remigrate) a
// missing table or column means the schema is broken rather than that the
// database was recreated.
const remigrateWindow = 10 * time.Minute

// undefined handles err, a failed statement's, for Config.Remigrate: a
// missing table or column runs the migrations, under their lock (they
// create what a recreated database lacks; when several workers hit it at
// once, the first applies them and the others find nothing to do), and
// err is returned as it is, to be retried. The same failure again within
// remigrateWindow of that, when the migrations ran and the table is still
// missing, wraps ErrSchemaBroken, which SchemaError reports. Other errors
// pass through. ctx bounds the migrations (with at most 30 s).
func (s *Store) undefined(ctx context.Context, err error) error {
	code := SQLState(err)
	if !s.cfg.Remigrate || (code != CodeUndefinedTable && code != CodeUndefinedColumn) || s.conn == nil || ctx.Err() != nil {
		return err
	}
	if s.broken != nil || (!s.remigratedAt.IsZero() && time.Since(s.remigratedAt) < remigrateWindow) {
		return s.markBroken(err)
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	applied, merr := s.Migrate(mctx)
	if merr != nil {
		s.log.Error().Err(err).AnErr("migrate", merr).Msg("a table or column is missing, and re-running the migrations failed")
		return err
	}
	s.remigratedAt = time.Now()
	if len(applied) == 0 {
		s.log.Warn().Err(err).Msg("a table or column was missing, and the migrations found nothing to apply " +
			"(another worker applied them just now, or the schema was changed by hand); the task is retried")
		return err
	}
	s.log.Error().Err(err).Ints("applied", applied).
		Msg("a table or column was missing (was the database dropped and recreated?): re-ran the migrations; the task is retried")
	return err
}

func (s *Store) markBroken(err error) error {
	if s.broken == nil {
		s.broken = fmt.Errorf("%w (SQLSTATE %s: %v); fix the schema or recreate the database and restart", ErrSchemaBroken, SQLState(err), err)
		s.log.Error().Err(s.broken).Msg("stopping: the schema is broken")
	}
	return fmt.Errorf("%w: %w", ErrSchemaBroken, err)
}

// SchemaError is the ErrSchemaBroken error Config.Remigrate found, or nil.
func (s *Store) SchemaError() error { return s.broken }

// Tx is one transaction on the Store's session, begun by its first
// statement: a Tx that runs none costs no round trip. Create one with InTx.
// Like the Store, it is not safe for concurrent use.
type Tx struct {
	conn *pgx.Conn
	tx   pgx.Tx // nil until the first statement
	// timeouts, behind a pooler, are the statement and idle-in-transaction
	// timeouts in ms, set for the transaction when it begins; nil directly
	// connected (the session has them).
	timeouts []string
	// opts are the transaction's isolation and access mode.
	opts pgx.TxOptions
}

// Begun reports whether the transaction has begun (a statement ran in it).
func (t *Tx) Begun() bool { return t.tx != nil }

// run runs fn inside the transaction, beginning it first if need be. The
// error is marked with its outcome class and wrapped "op: ...".
func (t *Tx) run(ctx context.Context, op string, fn func(q querier) error) error {
	if t.tx == nil {
		tx, err := t.conn.BeginTx(ctx, t.opts)
		if err != nil {
			return fmt.Errorf("%s: begin: %w", op, mark(err))
		}
		t.tx = tx
		if t.timeouts != nil {
			if _, err := tx.Exec(ctx, `SELECT set_config('statement_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true)`,
				t.timeouts[0], t.timeouts[1]); err != nil {
				return fmt.Errorf("%s: set the transaction's timeouts: %w", op, mark(err))
			}
		}
	}
	if err := fn(t.tx); err != nil {
		return fmt.Errorf("%s: %w", op, mark(err))
	}
	return nil
}

// InTx runs fn in one transaction on the session and commits it if fn
// returns nil; otherwise it rolls it back and returns fn's error (a panic
// in fn rolls it back too, then goes on). The
// rollback survives ctx's cancellation (bounded by 5s): a cancelled query
// already cost the session, and a live one must not stay idle in a
// transaction. A session the transaction lost is dropped; the next
// EnsureSession dials a new one. Errors are marked with their outcome class
// (SQLSTATE classes 22 and 23: outcome.Data). Without a session it fails
// with ErrNoSession and does not call fn.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.inTxWith(ctx, pgx.TxOptions{}, fn)
}

// inTxWith is InTx with the transaction's isolation and access mode.
func (s *Store) inTxWith(ctx context.Context, opts pgx.TxOptions, fn func(tx *Tx) error) error {
	conn, err := s.session()
	if err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	err = inTx(ctx, conn, s.txTimeouts(), opts, fn)
	s.checkLost(err)
	if err != nil {
		return s.undefined(ctx, err)
	}
	return nil
}

// txTimeouts are the timeouts a transaction sets for itself: behind a
// pooler only (directly connected, the session has them).
func (s *Store) txTimeouts() []string {
	if !s.cfg.Pooler || s.cfg.StatementTimeout <= 0 {
		return nil
	}
	ms := s.cfg.StatementTimeout.Milliseconds()
	return []string{strconv.FormatInt(ms, 10), strconv.FormatInt(2*ms, 10)}
}

func inTx(ctx context.Context, conn *pgx.Conn, timeouts []string, opts pgx.TxOptions, fn func(tx *Tx) error) (err error) {
	t := &Tx{conn: conn, timeouts: timeouts, opts: opts}
	rollback := func() {
		if t.tx != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
			_ = t.tx.Rollback(rctx) // if it fails, the session is gone: checkLost sees it
			cancel()
		}
	}
	defer func() {
		if v := recover(); v != nil {
			rollback() // a panic in fn must not leave the transaction open for the next caller to commit
			panic(v)
		}
	}()
	if err := fn(t); err != nil {
		rollback()
		return err
	}
	if t.tx == nil {
		return nil
	}
	if err := t.tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", mark(err))
	}
	return nil
}

// Reader is the reads a task's handler may make through the session
// before its batch's transaction (the runner's Prepare phase). *Store
// implements it, and so does *Tx.
type Reader interface {
	Tails(ctx context.Context, series []market.Series) (map[market.Series]Tail, error)
	ReadBars(ctx context.Context, symbol string, iv market.Interval, from time.Time, limitBefore int) ([]market.Bar, error)
}

var (
	_ Reader = (*Store)(nil)
	_ Reader = (*Tx)(nil)
)
