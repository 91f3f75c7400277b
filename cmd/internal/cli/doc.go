// Package cli is what the fleet's commands share: mapping the environment
// onto the libraries' configurations (envconfig), printing it for --help,
// the logger, signal handling and the NATS connection.
//
// Configuration enters the program here and only here: the library
// packages take Config structs, whose defaults and limits they define
// (WithDefaults, Validate). A command's spec binds each variable to the
// field it sets (BindStreams, BindBudget, pointer fields): --help shows the
// library's default, and a library's *config.FieldError is reported with
// the variable's name (Load). Only what no library has (NATS credentials,
// logging, the Go GC target) is a plain field with its default in a tag.
package cli
