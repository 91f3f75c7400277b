package metrics_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"marketfleet/metrics"
	"marketfleet/outcome"
)

// families returns the metric family names the registry exports now.
func families(t *testing.T, w *metrics.Worker) []string {
	t.Helper()
	mfs, err := w.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "marketfleet_") {
			out = append(out, mf.GetName())
		}
	}
	return out
}

// A new worker exports every family of the contract but the fleet view at
// once (known label values start at zero); the fleet view appears while a
// snapshot is set, and goes with Clear.
func TestFamiliesMatchTheContract(t *testing.T) {
	w := metrics.NewWorker("collect", "features")
	fleet := []string{"marketfleet_pg_max_connections", "marketfleet_pg_reserved_connections", "marketfleet_pg_sessions",
		"marketfleet_pg_fleet_sessions", "marketfleet_budget_slots", "marketfleet_backlog_oldest_age_seconds", "marketfleet_dead_letter_stream_used_ratio"}
	want := slices.DeleteFunc(slices.Clone(metrics.Names), func(n string) bool { return slices.Contains(fleet, n) })
	// Histograms without observations are exported too (zero buckets);
	// vectors only once a label set exists.
	w.TaskDuration.WithLabelValues("collect")
	w.TaskLatency.WithLabelValues("collect", "normal")
	w.SourceDuration.WithLabelValues("synthetic", "ok")
	slices.Sort(want)
	if got := families(t, w); !reflect.DeepEqual(got, want) {
		t.Fatalf("families\n got %v\nwant %v", got, want)
	}
	w.Fleet.Set(metrics.FleetSnapshot{MaxConnections: 100, Sessions: map[string]int{"marketfleet-worker/a": 1},
		FleetPrefix: "marketfleet-worker/", BudgetSlots: 3, OldestAge: map[string]float64{"marketfleet-workers": 2},
		DeadLetterUsed: map[string]float64{"tasks": 0.5}})
	all := slices.Sorted(slices.Values(metrics.Names))
	if got := families(t, w); !reflect.DeepEqual(got, all) {
		t.Fatalf("with the fleet view\n got %v\nwant %v", got, all)
	}
	w.Fleet.Clear()
	if got := families(t, w); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Clear the fleet view is still exported: %v", got)
	}
}

func TestGroupSessions(t *testing.T) {
	sessions := map[string]int{"marketfleet-worker/a": 1, "marketfleet-worker/b": 1, "grafana": 4, "": 2, "psql": 1}
	for i := range 25 {
		sessions["app"+string(rune('A'+i))] = 1
	}
	got := metrics.GroupSessions(sessions, "marketfleet-worker/")
	if got[metrics.FleetSessionsGroup] != 2 || got["grafana"] != 4 || got["(none)"] != 2 {
		t.Fatalf("groups %v", got)
	}
	if len(got) != metrics.MaxApplications+2 {
		t.Fatalf("%d groups, want at most %d named + fleet + other", len(got), metrics.MaxApplications)
	}
	total := 0
	for _, n := range got {
		total += n
	}
	if total != 34 {
		t.Fatalf("groups sum to %d sessions, want all 34", total)
	}
}

// The class label values are the outcome vocabulary itself: every class a
// worker settles a task with is a task_errors class, every dead-letter class
// a dead_letters class, and both series exist from the start.
func TestClassLabelsAreTheOutcomeClasses(t *testing.T) {
	w := metrics.NewWorker("collect", "features")
	for _, c := range outcome.Classes {
		if got, want := slices.Contains(metrics.ErrorClasses, string(c)), c != outcome.MaxDeliveries; got != want {
			t.Errorf("class %q in task_errors labels: %v, want %v", c, got, want)
		}
		if got, want := slices.Contains(metrics.LetterClasses, string(c)), c.DeadLetter(); got != want {
			t.Errorf("class %q in dead_letters labels: %v, want %v", c, got, want)
		}
	}
	if n := len(metrics.ErrorClasses) + 1; n != len(outcome.Classes) {
		t.Errorf("%d task_errors classes for %d outcome classes: a label value is not a class", n-1, len(outcome.Classes))
	}
	mfs, err := w.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "class" {
					if seen[mf.GetName()] == nil {
						seen[mf.GetName()] = map[string]bool{}
					}
					seen[mf.GetName()][l.GetValue()] = true
				}
			}
		}
	}
	for _, c := range metrics.LetterClasses {
		if !seen["marketfleet_dead_letters_total"][c] {
			t.Errorf("marketfleet_dead_letters_total{class=%q} is not exported at start", c)
		}
	}
	for _, c := range metrics.ErrorClasses {
		if !seen["marketfleet_task_errors_total"][c] {
			t.Errorf("marketfleet_task_errors_total{class=%q} is not exported at start", c)
		}
	}
}
