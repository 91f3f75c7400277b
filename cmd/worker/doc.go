// Command worker consumes tasks from JetStream in small batches and writes
// their results to PostgreSQL through exactly one session (package worker).
//
// Usage:
//
//	worker           run until SIGTERM or SIGINT
//	worker migrate   apply schema migrations and exit
//	worker --help    print every environment variable with its default
package main
