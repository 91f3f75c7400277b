package market

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseUniverse(t *testing.T) {
	in := `# header
aapl
BRK-B 1wk   # class B, weekly
^GSPC

AAPL        # listed twice
EURUSD=X 1h
`
	got, err := ParseUniverse(strings.NewReader(in), Interval1d)
	if err != nil {
		t.Fatal(err)
	}
	want := []UniverseEntry{{"AAPL", Interval1d}, {"BRK-B", Interval1wk}, {"^GSPC", Interval1d}, {"EURUSD=X", Interval60m}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseUniverse = %v, want %v", got, want)
	}
}

func TestParseUniverseErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"AAPL\nBAD SYMBOL X\n", "line 2"},
		{"AAPL\n\nMSFT 2d\n", "line 3"},
		{"A'B\n", "line 1"},
		{"# nothing\n\n", "no symbols"},
	} {
		_, err := ParseUniverse(strings.NewReader(tc.in), Interval1d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseUniverse(%q) = %v, want an error mentioning %q", tc.in, err, tc.want)
		}
	}
}
