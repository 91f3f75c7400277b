package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
)

// noSQLState is the db_errors key of a database error without a SQLSTATE
// (network failure, timeout, closed connection).
const noSQLState = "none"

// stats is what one process did, written as JSON at exit. It is safe for
// concurrent use.
type stats struct {
	log zerolog.Logger

	mu  sync.Mutex
	out statsFile
}

// statsFile is the stats file's format.
type statsFile struct {
	Design   string `json:"design"`
	App      string `json:"app"`
	Pool     int    `json:"pool,omitempty"`
	Inflight int    `json:"inflight"`
	Latency  string `json:"latency"`
	// TasksOK counts tasks upserted and then acked; a task delivered again
	// (its ack lost) counts again.
	TasksOK int `json:"tasks_ok"`
	// Bars is the number of bars those tasks upserted.
	Bars int `json:"bars"`
	// DBErrors counts every database error by SQLSTATE ("none" when it has
	// none), failures to connect included.
	DBErrors map[string]int `json:"db_errors"`
	// ConnectErrors counts the database errors that were failures to open a
	// connection (sequential) or to acquire one from the pool (pooled). A
	// 53300 refusal is counted here and in DBErrors["53300"].
	ConnectErrors int `json:"connect_errors"`
	// Naks counts tasks handed back for redelivery after an error,
	// including the ones still buffered at shutdown.
	Naks int `json:"naks"`
	// Abandoned counts naks of a task's last allowed delivery: JetStream
	// will not deliver it again.
	Abandoned int `json:"abandoned"`
	// Invalid counts envelopes that did not decode or were not collect
	// tasks; they are terminated.
	Invalid int `json:"invalid"`
	// FetchErrors counts failures of the synthetic source.
	FetchErrors int `json:"fetch_errors"`
	// AckErrors counts acks that could not even be sent.
	AckErrors int `json:"ack_errors"`
	// Started is when the process began taking tasks; Stopped when its last
	// task was settled after the stop signal.
	Started time.Time `json:"started"`
	Stopped time.Time `json:"stopped"`
}

func newStats(c config, log zerolog.Logger) *stats {
	s := &stats{log: log, out: statsFile{Design: c.Design, App: c.App, Inflight: 1,
		Latency: c.Latency.String(), DBErrors: map[string]int{}}}
	if c.Design == designPooled {
		s.out.Pool, s.out.Inflight = c.Pool, c.Inflight
	}
	return s
}

func (s *stats) update(fn func(*statsFile)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.out)
}

func (s *stats) ok(bars int) {
	s.update(func(f *statsFile) { f.TasksOK++; f.Bars += bars })
}

// dbError counts err under its SQLSTATE, and as a connect error if
// connecting is what failed. The first error of each SQLSTATE is logged.
func (s *stats) dbError(err error, connect bool) {
	state := noSQLState
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		state = pgErr.Code
	}
	first := false
	s.update(func(f *statsFile) {
		f.DBErrors[state]++
		first = f.DBErrors[state] == 1
		if connect {
			f.ConnectErrors++
		}
	})
	if first {
		s.log.Warn().Str("sqlstate", state).Bool("connect", connect).Err(err).
			Msg("database error (counted; later ones with this SQLSTATE are not logged)")
	}
}

// nak counts a nak; last says it was the task's last allowed delivery.
func (s *stats) nak(last bool) {
	s.update(func(f *statsFile) {
		f.Naks++
		if last {
			f.Abandoned++
		}
	})
}

func (s *stats) invalid()    { s.update(func(f *statsFile) { f.Invalid++ }) }
func (s *stats) fetchError() { s.update(func(f *statsFile) { f.FetchErrors++ }) }
func (s *stats) ackError()   { s.update(func(f *statsFile) { f.AckErrors++ }) }

func (s *stats) start() { s.update(func(f *statsFile) { f.Started = time.Now().UTC() }) }
func (s *stats) stop()  { s.update(func(f *statsFile) { f.Stopped = time.Now().UTC() }) }

// write writes the stats as JSON to path (atomically: a reader never sees
// half a file), or to stdout when path is empty.
func (s *stats) write(path string) error {
	s.mu.Lock()
	b, err := json.MarshalIndent(s.out, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".stats-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
