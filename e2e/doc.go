// Package e2e holds the end-to-end tests: the real producer and worker
// binaries, built once per run, against an in-process nats-server and a
// fresh PostgreSQL database.
package e2e
