// Package metrics holds every Prometheus metric a worker exports, on a
// registry of its own (no global registry, nothing registered at init).
//
// Names start with marketfleet_ and labels have low cardinality: kind,
// outcome, error class, status, SQLSTATE class, consumer, application
// group; never a symbol. Names lists the contract; a test scrapes a real
// worker and checks it exports exactly these, and the alert rules and the
// Grafana dashboard in deploy/ are checked against the same list.
//
// The packages that do the work (runner, store, slots, source, dlq,
// requests) know nothing of Prometheus: they offer hooks and observer
// interfaces, and the worker's main wires them to a Worker.
//
// The fleet's view of PostgreSQL and of the backlog (FleetView) is
// exported by one worker at a time, the holder of connection slot 0, so the
// database and the server are polled once for the whole fleet; on the other
// workers those series are absent.
package metrics
