// Package composetest runs deploy/compose.yaml for real on a Docker engine
// (make compose-test; build tag "compose", so that go test ./... skips it):
// the images from make image, stand-ins for the third-party ones where no
// registry answers (scripts/base-images.sh), Docker Compose from
// scripts/compose.sh.
package composetest
