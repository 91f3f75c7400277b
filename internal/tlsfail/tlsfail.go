package tlsfail

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// Unverified reports whether err (anywhere in its chain) is a failed
// verification of the peer's certificate: an unknown authority, another
// host name, an invalid or expired certificate.
func Unverified(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify)
}
