// Package tlsfail recognises a peer certificate that failed verification,
// the one TLS failure that retrying cannot fix.
package tlsfail
