// Package cli is what the fleet's commands share: reading and validating
// configuration from the environment (envconfig), printing it for --help,
// the logger, signal handling and the NATS connection.
//
// Configuration enters the program here and only here: the library packages
// (queue, tasks, store, runner, source) take plain values.
package cli
