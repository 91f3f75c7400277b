package main

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// health backs /healthz (the process serves HTTP) and /readyz (it holds a
// connection slot and its PostgreSQL session, the schema is migrated, and it
// is bound to the consumer).
type health struct {
	working atomic.Bool // holds a slot, its session opened and migrated, the batch loop running
	session atomic.Bool
	bound   atomic.Bool
}

func newHealth() *health { return &health{} }

// serve answers /healthz, /readyz and, with metrics, /metrics on addr.
func (h *health) serve(addr string, metrics http.Handler) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case !h.working.Load():
			http.Error(w, "waiting for a connection slot", http.StatusServiceUnavailable)
		case !h.session.Load():
			http.Error(w, "no postgres session", http.StatusServiceUnavailable)
		case !h.bound.Load():
			http.Error(w, "not bound to the consumer", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ready\n"))
		}
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// Serve returns ErrServerClosed on shutdown; any other failure shows as
	// /healthz going dark, which is what probes watch.
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

func shutdownHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
