package store

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
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

// Identity names the database connString points at, without credentials:
// "host:port/database" as the connection would use them (defaults and
// PG* variables applied). Processes given the same database have the same
// identity; the fleet keys its published budget by it. It returns
// ErrBadConnString when the string does not parse.
func Identity(connString string) (string, error) {
	c, err := parseConnString(connString)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database), nil
}

// parseConnString parses connString for pgx. Its error never quotes the
// string (pgx's ParseConfigError keeps it, and its inner error may quote
// it): ErrBadConnString, or ErrConnFile naming a file the string names
// (sslrootcert, sslcert, sslkey, passfile) that cannot be read, which is
// a missing file to fix, not a malformed string.
func parseConnString(connString string) (*pgx.ConnConfig, error) {
	c, err := pgx.ParseConfig(connString)
	if err == nil {
		return c, nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%w: %s %s: %v", ErrConnFile, pe.Op, pe.Path, pe.Err)
	}
	return nil, ErrBadConnString
}
