package market

import (
	"fmt"
	"regexp"
)

// MaxSymbolLen is the longest symbol accepted anywhere in the system.
const MaxSymbolLen = 24

// symbolRE accepts the ticker shapes Yahoo uses: plain (AAPL), class shares
// (BRK-B), indices (^GSPC), currencies (EURUSD=X), exchange suffixes (7203.T,
// GS2C.DE, M&M.NS), crypto pairs (BTC-USD) and fund ids (0P0000XTS7). It is anchored
// and length-bounded; upper-case only, so a symbol has one spelling.
var symbolRE = regexp.MustCompile(`^\^?[A-Z0-9][A-Z0-9.=&\-]{0,23}$`)

// ValidateSymbol returns nil if s is an acceptable ticker symbol, and
// otherwise an error wrapping ErrInvalidSymbol that says why. Symbols are
// upper-case; callers that take user input should upper-case it first.
func ValidateSymbol(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrInvalidSymbol)
	case len(s) > MaxSymbolLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidSymbol, len(s), MaxSymbolLen)
	case !symbolRE.MatchString(s):
		return fmt.Errorf("%w %q: want upper-case letters, digits and . - = & (optionally a leading ^)", ErrInvalidSymbol, s)
	}
	return nil
}
