package budget_test

import (
	"reflect"
	"testing"

	"marketfleet/budget"
)

func TestCompute(t *testing.T) {
	users := budget.Server{MaxConnections: 100, SuperuserReserved: 3, Sessions: map[string]int{
		"marketfleet-worker/a": 1, "marketfleet-worker/b": 1, "grafana": 4, "psql": 1, "": 2,
	}}
	tests := []struct {
		name        string
		limits      budget.Server
		cfg         budget.Config
		computed    int
		slots       int
		fleet, othr int
	}{
		// 100 - 3 - 20 - (4+1+2) = 70
		{"the users' server", users, budget.Config{Reserve: 20}, 70, 70, 2, 7},
		{"cap below computed wins", users, budget.Config{Reserve: 20, Cap: 3}, 70, 3, 2, 7},
		{"computed below cap wins", users, budget.Config{Reserve: 20, Cap: 500}, 70, 70, 2, 7},
		{"no reserve", users, budget.Config{}, 90, 90, 2, 7},
		{"negative reserve is none", users, budget.Config{Reserve: -5}, 90, 90, 2, 7},
		// PostgreSQL 16 reserved_connections is subtracted too: 100-3-10-20-0.
		{"role reserved", budget.Server{MaxConnections: 100, SuperuserReserved: 3, RoleReserved: 10},
			budget.Config{Reserve: 20}, 67, 67, 0, 0},
		// Over-subscribed: 20 - 3 - 20 - 5 = -8, no slots at all.
		{"over-subscribed", budget.Server{MaxConnections: 20, SuperuserReserved: 3, Sessions: map[string]int{"api": 5}},
			budget.Config{Reserve: 20, Cap: 4}, -8, 0, 0, 5},
		{"custom fleet prefix", users, budget.Config{Reserve: 20, FleetPrefix: "grafana"}, 72, 72, 4, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := budget.Compute(tt.limits, tt.cfg)
			if b.Computed != tt.computed || b.Slots != tt.slots || b.Fleet != tt.fleet || b.Others != tt.othr {
				t.Fatalf("got computed %d slots %d fleet %d others %d, want %d %d %d %d",
					b.Computed, b.Slots, b.Fleet, b.Others, tt.computed, tt.slots, tt.fleet, tt.othr)
			}
		})
	}
}

func TestComputeListsOtherAppsLargestFirst(t *testing.T) {
	b := budget.Compute(budget.Server{MaxConnections: 100, Sessions: map[string]int{
		"marketfleet-worker/x": 3, "psql": 1, "grafana": 4, "api": 4,
	}}, budget.Config{})
	want := []budget.App{{"api", 4}, {"grafana", 4}, {"psql", 1}}
	if !reflect.DeepEqual(b.OtherApps, want) {
		t.Fatalf("other apps = %v, want %v", b.OtherApps, want)
	}
}
