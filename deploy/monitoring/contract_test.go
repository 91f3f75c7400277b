package monitoring_test

import (
	"maps"
	"slices"
	"testing"

	"marketfleet/kinds"
	"marketfleet/metrics"
)

// family is one metric family: its type and its labels, each with the values
// it may take (nil: any value).
type family struct {
	typ    string // counter, gauge or histogram
	labels map[string][]string
}

const (
	counter   = "counter"
	gauge     = "gauge"
	histogram = "histogram"
)

var (
	// kindLabels are the registered kinds (a new kind needs no edit here:
	// no rule or panel names a kind) and "invalid", for envelopes no
	// worker can run.
	kindLabels   = append(kinds.Names(), metrics.InvalidKind)
	errorClasses = []string{"transient", "busy", "deferred", "invalid", "not_found", "rejected", "data", "bad_data", "panic", "exhausted"}
	consumers    = []string{"marketfleet-workers", "marketfleet-workers-priority"}
	actionKinds  = []string{"split", "dividend", "capital_gain"}
)

// contract is every metric family a worker exports (histograms without their
// _bucket, _sum and _count suffixes), with its labels. It is THE list the
// alert rules and the dashboard are checked against, kept in this one place;
// a test elsewhere scrapes a real worker and checks it exports exactly these
// (metrics.Names). Change both together.
//
// Every series also carries the labels Prometheus adds (instance, job);
// "worker" is not a label. The families marked "slot 0" are exported only by
// the worker holding connection slot 0 and are absent on the others: read
// them with max(), never sum().
var contract = map[string]family{
	"marketfleet_tasks_total":            {counter, map[string][]string{"kind": kindLabels, "outcome": {"ok", "retried", "dead_lettered"}}},
	"marketfleet_task_errors_total":      {counter, map[string][]string{"kind": kindLabels, "class": errorClasses}},
	"marketfleet_task_duration_seconds":  {histogram, map[string][]string{"kind": kindLabels}},
	"marketfleet_task_latency_seconds":   {histogram, map[string][]string{"kind": kindLabels, "priority": {"normal", "high"}}},
	"marketfleet_batch_duration_seconds": {histogram, nil},
	"marketfleet_batch_tasks":            {histogram, nil},
	"marketfleet_bars_written_total":     {counter, nil},
	"marketfleet_bars_changed_total":     {counter, nil},
	"marketfleet_restatements_total":     {counter, map[string][]string{"kind": actionKinds}},
	"marketfleet_bars_restated_total":    {counter, map[string][]string{"kind": actionKinds}},
	"marketfleet_bars_repaired_total":    {counter, nil},
	"marketfleet_known_holes_total":      {counter, nil},
	"marketfleet_gaps_found_total":       {counter, nil},
	"marketfleet_empty_answers_total":    {counter, nil},
	"marketfleet_source_request_duration_seconds": {histogram, map[string][]string{
		"source": {"yahoo", "synthetic"},
		"status": {"ok", "not_found", "rejected", "retry_after", "error", "canceled"},
	}},
	"marketfleet_source_ratelimit_wait_seconds_total": {counter, nil},
	"marketfleet_source_rate":                         {gauge, map[string][]string{"rate": {"configured", "current"}}}, // 0: unlimited
	"marketfleet_source_breaker_open":                 {gauge, nil},
	"marketfleet_source_deferred_total":               {counter, nil},
	"marketfleet_db_connect_attempts_total":           {counter, nil},
	// sqlstate_class: a two-character SQLSTATE class (53, 57, 08, 28, ...),
	// "network" or "gate".
	"marketfleet_db_connect_failures_total": {counter, map[string][]string{"sqlstate_class": nil}},
	"marketfleet_db_reconnects_total":       {counter, nil},
	"marketfleet_db_session_up":             {gauge, nil},
	"marketfleet_slot_held":                 {gauge, nil},
	"marketfleet_slot_waiting":              {gauge, nil},
	"marketfleet_slot_wait_seconds_total":   {counter, nil},
	"marketfleet_slot_losses_total":         {counter, map[string][]string{"reason": {"lost", "revoked"}}},
	"marketfleet_nats_reconnects_total":     {counter, nil},
	"marketfleet_nats_connected":            {gauge, nil},
	"marketfleet_dead_letters_total": {counter, map[string][]string{
		"class": {"invalid", "not_found", "rejected", "data", "bad_data", "panic", "exhausted", "max_deliveries"},
	}},
	"marketfleet_dead_letter_failures_total": {counter, map[string][]string{"stream": {"tasks", "requests"}}},
	"marketfleet_requests_total":             {counter, map[string][]string{"outcome": {"accepted", "invalid", "unrecorded", "failed"}}},
	// slot 0 only:
	"marketfleet_pg_max_connections":            {gauge, nil},
	"marketfleet_pg_reserved_connections":       {gauge, nil},
	"marketfleet_pg_sessions":                   {gauge, map[string][]string{"application": nil}}, // marketfleet-worker, other names, "other"
	"marketfleet_pg_fleet_sessions":             {gauge, nil},
	"marketfleet_budget_slots":                  {gauge, nil},
	"marketfleet_backlog_oldest_age_seconds":    {gauge, map[string][]string{"consumer": consumers}},
	"marketfleet_dead_letter_stream_used_ratio": {gauge, map[string][]string{"stream": {"tasks", "requests"}}},
	// Zero on the others; read them with max() too.
	"marketfleet_audit_gaps":       {gauge, map[string][]string{"state": {"open", "persisting"}}},
	"marketfleet_provisional_bars": {gauge, map[string][]string{"state": {"pending", "due"}}},
}

// Labels of prometheus-nats-exporter's JetStream series (collector/jsz.go).
var (
	jszServerLabels = map[string][]string{
		"server_id": nil, "server_name": nil, "cluster": nil, "domain": nil,
		"meta_leader": nil, "is_meta_leader": {"true", "false"},
	}
	jszStreamLabels = with(jszServerLabels, map[string][]string{
		"account": nil, "account_id": nil,
		"stream_name":   {"MARKETFLEET_TASKS", "MARKETFLEET_DLQ"},
		"stream_leader": nil, "is_stream_leader": {"true", "false"},
	})
	jszConsumerLabels = with(jszStreamLabels, map[string][]string{
		"consumer_name":   consumers,
		"consumer_leader": nil, "is_consumer_leader": {"true", "false"},
		"consumer_desc": nil, "consumer_created": nil,
	})
)

// exporter is every JetStream series prometheus-nats-exporter serves with
// -jsz=all: the list in its v0.8.0 release notes (the release that added
// JetStream), which later releases (checked against collector/jsz.go of
// v0.11+) kept and extended with the four marked "later". The label values
// listed are this deployment's stream and consumer names.
var exporter = map[string]family{
	"jetstream_server_total_streams":            {gauge, jszServerLabels},
	"jetstream_server_total_consumers":          {gauge, jszServerLabels},
	"jetstream_server_total_messages":           {gauge, jszServerLabels},
	"jetstream_server_total_message_bytes":      {gauge, jszServerLabels},
	"jetstream_server_max_memory":               {gauge, jszServerLabels},
	"jetstream_server_max_storage":              {gauge, jszServerLabels},
	"jetstream_server_jetstream_disabled":       {gauge, jszServerLabels}, // later
	"jetstream_stream_total_messages":           {gauge, jszStreamLabels},
	"jetstream_stream_total_bytes":              {gauge, jszStreamLabels},
	"jetstream_stream_first_seq":                {gauge, jszStreamLabels}, // later
	"jetstream_stream_last_seq":                 {gauge, jszStreamLabels},
	"jetstream_stream_consumer_count":           {gauge, jszStreamLabels},
	"jetstream_consumer_delivered_consumer_seq": {gauge, jszConsumerLabels},
	"jetstream_consumer_delivered_stream_seq":   {gauge, jszConsumerLabels},
	"jetstream_consumer_num_ack_pending":        {gauge, jszConsumerLabels},
	"jetstream_consumer_num_redelivered":        {gauge, jszConsumerLabels},
	"jetstream_consumer_num_waiting":            {gauge, jszConsumerLabels},
	"jetstream_consumer_num_pending":            {gauge, jszConsumerLabels},
	"jetstream_consumer_ack_floor_stream_seq":   {gauge, jszConsumerLabels}, // later
	"jetstream_consumer_ack_floor_consumer_seq": {gauge, jszConsumerLabels}, // later
}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"instance", "job"}

// with returns base and more in one new map.
func with(base, more map[string][]string) map[string][]string {
	out := make(map[string][]string, len(base)+len(more))
	maps.Copy(out, base)
	maps.Copy(out, more)
	return out
}

// The contract is the workers' own list (a test in e2e scrapes a real worker
// and checks it exports exactly metrics.Names), with the same label values.
func TestContractIsWhatWorkersExport(t *testing.T) {
	got := slices.Sorted(maps.Keys(contract))
	if want := slices.Sorted(slices.Values(metrics.Names)); !slices.Equal(got, want) {
		t.Fatalf("contract families\n got %v\nwant %v (metrics.Names)", got, want)
	}
	for _, c := range []struct {
		family, label string
		want          []string
	}{
		{"marketfleet_tasks_total", "kind", append(kinds.Names(), metrics.InvalidKind)},
		{"marketfleet_tasks_total", "outcome", metrics.Outcomes},
		{"marketfleet_task_errors_total", "class", metrics.ErrorClasses},
		{"marketfleet_dead_letters_total", "class", metrics.LetterClasses},
		{"marketfleet_slot_losses_total", "reason", metrics.SlotReasons},
		{"marketfleet_requests_total", "outcome", metrics.RequestResult},
		{"marketfleet_dead_letter_failures_total", "stream", metrics.DeadLetterStreams},
	} {
		if got := contract[c.family].labels[c.label]; !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(c.want))) {
			t.Errorf("%s{%s}: contract %v, workers %v", c.family, c.label, got, c.want)
		}
	}
}
