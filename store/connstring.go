package store

import (
	"net/url"
	"strings"
)

// WithDatabase returns connString (a postgres:// URL or a key=value DSN)
// pointing at database name instead of its own. It returns
// ErrBadConnString for a URL that does not parse; the error never quotes
// the string, which may hold a password.
func WithDatabase(connString, name string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", ErrBadConnString
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return connString + " dbname=" + name, nil
}
