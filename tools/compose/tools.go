//go:build tools

// Package compose pins Docker Compose v2 (module github.com/docker/compose/v5),
// built by scripts/compose.sh for make compose-test: `go install` refuses the
// exclude directives of Compose's go.mod, a wrapper module builds it.
package compose

import _ "github.com/docker/compose/v5/cmd"
