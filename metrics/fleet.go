package metrics

import (
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxApplications bounds the application label of marketfleet_pg_sessions:
// the largest applications by sessions keep their name, the rest are summed
// under "other".
const MaxApplications = 20

// FleetSessionsGroup is the application label of all fleet sessions.
const FleetSessionsGroup = "marketfleet-worker"

// FleetSnapshot is the slot-0 holder's view of the database and the
// backlog.
type FleetSnapshot struct {
	MaxConnections      int
	ReservedConnections int            // superuser + role reserved
	Sessions            map[string]int // client sessions by application_name
	FleetPrefix         string         // application_name prefix of fleet sessions
	BudgetSlots         int
	// OldestAge is the age in seconds of the oldest task waiting for
	// delivery, per consumer (0 when none waits).
	OldestAge map[string]float64
	// DeadLetterUsed is how full each dead-letter stream is (bytes over
	// its cap, 0 to 1), by stream label (tasks, requests).
	DeadLetterUsed map[string]float64
}

// FleetView exports the last FleetSnapshot while this worker reports for
// the fleet (it holds slot 0), and nothing otherwise. Safe for concurrent
// use.
type FleetView struct {
	mu   sync.Mutex
	snap *FleetSnapshot

	maxConn, reserved, sessions, fleet, slots, oldest, dlqUsed *prometheus.Desc
}

func newFleetView() *FleetView {
	return &FleetView{
		maxConn:  prometheus.NewDesc("marketfleet_pg_max_connections", "The server's max_connections (reported by the holder of slot 0).", nil, nil),
		reserved: prometheus.NewDesc("marketfleet_pg_reserved_connections", "superuser_reserved_connections + reserved_connections.", nil, nil),
		sessions: prometheus.NewDesc("marketfleet_pg_sessions", "Client sessions on the server by application group (fleet sessions as marketfleet-worker).", []string{"application"}, nil),
		fleet:    prometheus.NewDesc("marketfleet_pg_fleet_sessions", "Sessions the fleet holds.", nil, nil),
		slots:    prometheus.NewDesc("marketfleet_budget_slots", "The fleet's connection budget.", nil, nil),
		oldest:   prometheus.NewDesc("marketfleet_backlog_oldest_age_seconds", "Age of the oldest task waiting for delivery, by consumer.", []string{"consumer"}, nil),
		dlqUsed:  prometheus.NewDesc("marketfleet_dead_letter_stream_used_ratio", "How full a dead-letter stream is (bytes over its cap): tasks (when full, new dead letters are refused and tasks retried) or requests (the oldest go first).", []string{"stream"}, nil),
	}
}

// Set publishes s until Clear.
func (v *FleetView) Set(s FleetSnapshot) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.snap = &s
}

// Clear stops exporting: this worker no longer reports for the fleet.
func (v *FleetView) Clear() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.snap = nil
}

// Describe implements prometheus.Collector.
func (v *FleetView) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{v.maxConn, v.reserved, v.sessions, v.fleet, v.slots, v.oldest, v.dlqUsed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (v *FleetView) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	s := v.snap
	v.mu.Unlock()
	if s == nil {
		return
	}
	gauge := func(d *prometheus.Desc, n float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, n, labels...)
	}
	gauge(v.maxConn, float64(s.MaxConnections))
	gauge(v.reserved, float64(s.ReservedConnections))
	gauge(v.slots, float64(s.BudgetSlots))
	groups := GroupSessions(s.Sessions, s.FleetPrefix)
	gauge(v.fleet, float64(groups[FleetSessionsGroup]))
	for app, n := range groups {
		gauge(v.sessions, float64(n), app)
	}
	for consumer, age := range s.OldestAge {
		gauge(v.oldest, age, consumer)
	}
	for stream, used := range s.DeadLetterUsed {
		gauge(v.dlqUsed, used, stream)
	}
}

// GroupSessions folds sessions by application_name into at most
// MaxApplications+2 groups: every fleet session under FleetSessionsGroup
// (one label, not one per worker), the largest other applications by name,
// and the rest under "other".
func GroupSessions(sessions map[string]int, fleetPrefix string) map[string]int {
	out := map[string]int{FleetSessionsGroup: 0}
	type app struct {
		name string
		n    int
	}
	var others []app
	for name, n := range sessions {
		if strings.HasPrefix(name, fleetPrefix) {
			out[FleetSessionsGroup] += n
			continue
		}
		if name == "" {
			name = "(none)"
		}
		others = append(others, app{name, n})
	}
	sort.Slice(others, func(i, j int) bool {
		return others[i].n > others[j].n || others[i].n == others[j].n && others[i].name < others[j].name
	})
	for i, a := range others {
		if i >= MaxApplications || a.name == FleetSessionsGroup {
			out["other"] += a.n
			continue
		}
		out[a.name] += a.n
	}
	return out
}
