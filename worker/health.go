package worker

import (
	"net/http"
	"net/http/pprof"
	"sync/atomic"
)

// health backs /healthz (the process serves HTTP) and /readyz (it holds a
// connection slot and its PostgreSQL session, the schema is migrated, and
// it is bound to the consumer).
type health struct {
	working atomic.Bool // holds a slot, its session opened and migrated, the batch loop running
	session atomic.Bool
	bound   atomic.Bool
}

// handler answers /healthz, /readyz and /metrics (with metrics), and with
// profiles Go's /debug/pprof/.
func (h *health) handler(metrics http.Handler, profiles bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	if profiles {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
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
	return mux
}
