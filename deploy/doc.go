// Package deploy holds what it takes to run marketfleet outside go run:
// the Dockerfile's configuration, Compose, Kubernetes manifests, systemd
// units, the NATS server and PostgreSQL role configuration. It has no code;
// its test parses every file and checks the invariants that matter.
package deploy
