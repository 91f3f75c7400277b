package requests

import (
	"fmt"
	"strings"

	"marketfleet/market"
)

// maxListedSymbols is how many bad symbols an error quotes; it counts the
// rest.
const maxListedSymbols = 10

// maxQuoted caps the bytes of one user-supplied value quoted in an error.
const maxQuoted = 32

// normalizeSymbols upper-cases ASCII letters, validates every symbol and
// drops repeats, keeping the first occurrence's position. One error names
// all the bad symbols (up to maxListedSymbols) with their index.
func normalizeSymbols(in []string, maxSymbols int) ([]string, error) {
	switch {
	case len(in) == 0:
		return nil, invalid("symbols", `missing: want 1 to %d ticker symbols, e.g. ["AAPL","MSFT"]`, maxSymbols)
	case len(in) > maxSymbols:
		return nil, invalid("symbols", "%d symbols, at most %d per request: split it", len(in), maxSymbols)
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	var bad []string
	for i, s := range in {
		u := asciiUpper(s)
		if market.ValidateSymbol(u) != nil {
			bad = append(bad, fmt.Sprintf("[%d] %q", i, clip(s)))
			continue
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	if len(bad) > 0 {
		return nil, badSymbols(bad, len(in))
	}
	return out, nil
}

func badSymbols(bad []string, total int) error {
	listed := bad
	more := ""
	if len(bad) > maxListedSymbols {
		listed = bad[:maxListedSymbols]
		more = fmt.Sprintf(" and %d more", len(bad)-maxListedSymbols)
	}
	return invalid("symbols", "%d of %d invalid: %s%s: want 1 to %d upper-case letters, digits and . - = & (optionally a leading ^)",
		len(bad), total, strings.Join(listed, ", "), more, market.MaxSymbolLen)
}

// asciiUpper upper-cases ASCII letters only, so that no other character can
// turn into a valid ticker (strings.ToUpper maps "ſ" to "S").
func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// clip shortens a user-supplied value to at most maxQuoted bytes for an
// error message (the caller quotes it, so a cut rune shows as \x..).
func clip(s string) string {
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "..."
	}
	return s
}
