package yahoo

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfterSeconds bounds a delta-seconds Retry-After so that converting
// it to a Duration cannot overflow (about 34 years).
const maxRetryAfterSeconds = 1 << 30

// parseRetryAfter interprets a Retry-After header value (RFC 9110 10.2.3):
// either delta-seconds or an HTTP-date, which is converted to a delay from
// now (0 if already past). It returns false for an empty or malformed value.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	secs, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err == nil:
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second, true
	case errors.Is(err, strconv.ErrRange):
		return maxRetryAfterSeconds * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
