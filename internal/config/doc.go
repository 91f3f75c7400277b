// Package config is the one way a component's configuration says what is
// wrong with it. Every component follows the same idiom: a Config struct
// whose fields document their defaults, WithDefaults to fill the zero
// fields, and Validate, which returns a *FieldError naming the field (a
// path of Go field names, such as "Stream.MaxBytes"), its value and what it
// wants, wrapping the component's ErrInvalidConfig. A Config that contains
// another prefixes the inner error's path with In. A command maps the path
// back to the environment variable that set the field (cmd/internal/cli).
package config
