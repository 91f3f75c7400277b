// Package monitoring holds no code: its tests check the fleet's monitoring
// configuration, the Prometheus alert rules in deploy/prometheus and the
// Grafana dashboard in deploy/grafana, against the metrics the workers export.
//
// The tests:
//
//   - run `promtool check rules`, `promtool test rules` (the unit tests in
//     deploy/prometheus/alerts_test.yml) and `promtool check config`, and
//     check every dashboard query's syntax with promtool too;
//   - check that every marketfleet_* metric in a rule or a dashboard query is
//     in the workers' contract (contract_test.go), with the labels and label
//     values the workers use, and every jetstream_* metric is one
//     prometheus-nats-exporter documents;
//   - check that every alert has a severity, a summary, a description and a
//     runbook_url whose anchor is a heading of docs/OPERATIONS.md, and a
//     unit test where it fires and one where it must not;
//   - check that every dashboard panel has a title, queries, and the
//     DS_PROMETHEUS data source.
//
// promtool comes from scripts/promtool.sh (Debian's prometheus package);
// without it the tests fail, saying so, and never skip. Set PROMTOOL to use
// another binary.
package monitoring
