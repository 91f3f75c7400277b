package store_test

import (
	"context"
	"errors"
	"testing"

	"marketfleet/outcome"
	"marketfleet/store"
)

// A Tx begins at its first statement: a function that runs none costs no
// transaction, and commits nothing.
func TestInTxBeginsAtTheFirstStatement(t *testing.T) {
	s, _ := migrated(t)
	var tx *store.Tx
	if err := s.InTx(context.Background(), func(x *store.Tx) error { tx = x; return nil }); err != nil {
		t.Fatal(err)
	}
	if tx.Begun() {
		t.Fatal("a transaction without statements was begun")
	}
	if err := s.InTx(context.Background(), func(x *store.Tx) error {
		_, err := x.WriteBars(context.Background(), bars("TXB", 3))
		tx = x
		return err
	}); err != nil || !tx.Begun() {
		t.Fatalf("InTx with a write = %v (begun %v), want nil and a begun transaction", err, tx.Begun())
	}
}

// When the function fails, nothing is committed; when its context is
// cancelled between statements, the rollback still reaches the server and
// the session survives.
func TestInTxRollsBackAndKeepsTheSessionWhenTheContextEnds(t *testing.T) {
	s, admin := migrated(t)
	ctx, cancel := context.WithCancel(context.Background())
	pid := s.BackendPID()
	err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.WriteBars(ctx, bars("CXL", 4)); err != nil {
			return err
		}
		cancel() // a shutdown between two statements
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("InTx = %v, want the function's context.Canceled", err)
	}
	var n int
	if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM bars WHERE symbol = 'CXL'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d bars committed (%v), want none", n, err)
	}
	if !s.Up() || s.BackendPID() != pid {
		t.Fatalf("session up %v, pid %d (was %d): the rollback cost the session", s.Up(), s.BackendPID(), pid)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("the session is unusable after the rollback: %v", err)
	}
}

// An error the database raises for the data is marked outcome.Data where it
// is made, through the transaction's wrapping.
func TestInTxMarksRefusedData(t *testing.T) {
	s, _ := migrated(t)
	bad := bars("BAD", 2)
	bad[1].Symbol = "" // the table's CHECK refuses it
	err := s.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.WriteBars(context.Background(), bad)
		return err
	})
	if outcome.Of(err) != outcome.Data || store.SQLState(err) != "23514" {
		t.Fatalf("InTx = %v (class %q), want outcome.Data with SQLSTATE 23514", err, outcome.Of(err))
	}
	if !s.Up() {
		t.Fatal("a refused statement cost the session")
	}
}

// A panic in the function rolls the transaction back before it goes on:
// the next transaction on the session does not commit its writes.
func TestInTxRollsBackOnAPanic(t *testing.T) {
	s, admin := migrated(t)
	ctx := context.Background()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not go on")
			}
		}()
		_ = s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.WriteBars(ctx, bars("PANIC", 3)); err != nil {
				return err
			}
			panic("in the middle of a transaction")
		})
	}()
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.WriteBars(ctx, bars("AFTER", 1))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM bars WHERE symbol = 'PANIC'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d bars of the panicked transaction committed (%v), want none", n, err)
	}
}
