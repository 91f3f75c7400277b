package worker

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Go's profiles are served on the metrics address only when asked for:
// they can be slow and say much about the process.
func TestProfilesOnlyWhenAsked(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	for _, profiles := range []bool{false, true} {
		rec := httptest.NewRecorder()
		(&health{}).handler(metrics, profiles).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/", nil))
		if got := rec.Code == http.StatusOK; got != profiles {
			t.Errorf("profiles %v: GET /debug/pprof/ answered %d", profiles, rec.Code)
		}
	}
}
