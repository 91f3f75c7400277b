package market

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// UniverseEntry is one line of a universe file: a symbol and the interval
// to collect it at.
type UniverseEntry struct {
	Symbol   string
	Interval Interval
}

// ParseUniverse reads a universe file: "SYMBOL [INTERVAL]" per line, blank
// lines and text after '#' ignored, symbols upper-cased, def used for lines
// that name no interval. An entry listed twice is kept once. Errors give the
// line number; an empty file is an error.
func ParseUniverse(r io.Reader, def Interval) ([]UniverseEntry, error) {
	var out []UniverseEntry
	seen := map[UniverseEntry]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 2 {
			return nil, fmt.Errorf("line %d: want SYMBOL [INTERVAL], got %d fields", n, len(fields))
		}
		e := UniverseEntry{Symbol: strings.ToUpper(fields[0]), Interval: def}
		if err := ValidateSymbol(e.Symbol); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if len(fields) == 2 {
			iv, err := ParseInterval(fields[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			e.Interval = iv
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no symbols")
	}
	return out, nil
}
