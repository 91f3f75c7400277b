package market

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ActionKind names a kind of corporate action.
type ActionKind string

// The corporate actions a source reports.
const (
	// Split: from the ex-date on, one share is Numerator/Denominator shares
	// (4:1 is Numerator 4, Denominator 1; a 1:10 reverse split is 1, 10).
	Split ActionKind = "split"
	// Dividend: a cash distribution of Amount per share, in the units of the
	// source's answer.
	Dividend ActionKind = "dividend"
	// CapitalGain: a fund's capital-gain distribution of Amount per share;
	// it adjusts adjusted closes as a dividend does.
	CapitalGain ActionKind = "capital_gain"
)

// ActionKinds lists every kind, in the order restatements apply them:
// splits first (they change the closes the distributions' factors read).
var ActionKinds = []ActionKind{Split, Dividend, CapitalGain}

// Split ratios outside [1/MaxSplitRatio, MaxSplitRatio] are refused as
// absurd: the largest real splits and reverse splits are about 1:1000.
const MaxSplitRatio = 10_000

// Action is one corporate action of a symbol, as a source reports it.
type Action struct {
	Symbol string
	// ExDate is the trading date from which the action is in effect, at
	// 00:00 UTC (as daily bars are keyed): bars before it are the ones a
	// source adjusts.
	ExDate time.Time
	// EffectiveAt is the instant the action takes effect: the start of the
	// ex-date in the exchange's time zone (Tokyo's is 15:00 UTC the day
	// before, New York's 04:00 or 05:00 UTC). Zero means ExDate (an
	// exchange on UTC). See Effective.
	EffectiveAt time.Time
	Kind        ActionKind
	// Numerator and Denominator are a split's (zero otherwise).
	Numerator, Denominator float64
	// Amount is a distribution's, per share (zero for a split).
	Amount float64
	// Factor is, for a distribution, what adjusted closes before the
	// ex-date are multiplied by: 1 - Amount / the close before the ex-date,
	// both from the same answer. Zero when unknown (the restatement then
	// uses each series' own close).
	Factor float64
	// Source names where the action came from ("synthetic", "yahoo").
	Source string
}

// ActionKey identifies an action: a source reports the same action again,
// in every answer whose window holds its ex-date.
type ActionKey struct {
	Symbol string
	ExDate int64 // Unix seconds
	Kind   ActionKind
}

// Key returns the action's identity.
func (a Action) Key() ActionKey {
	return ActionKey{Symbol: a.Symbol, ExDate: a.ExDate.Unix(), Kind: a.Kind}
}

// Effective is EffectiveAt, or ExDate when it is zero: an answer as of an
// earlier instant is not adjusted for the action, a later one is, and an
// intraday bar starting before it is one the action adjusts.
func (a Action) Effective() time.Time {
	if a.EffectiveAt.IsZero() {
		return a.ExDate
	}
	return a.EffectiveAt
}

// Boundary is where the bars of iv the action adjusts end: a bar starting
// before it is one a source adjusts for the action. It is the ex-date for
// daily and longer bars (keyed by trading date) and the instant the action
// takes effect for intraday ones.
func (a Action) Boundary(iv Interval) time.Time {
	if iv.Intraday() {
		return a.Effective()
	}
	return a.ExDate
}

// Ratio is a split's Numerator/Denominator: prices before the ex-date are
// divided by it, volumes multiplied.
func (a Action) Ratio() float64 { return a.Numerator / a.Denominator }

// String is a short human form: "AAPL split 4:1 2020-08-31".
func (a Action) String() string {
	what := fmt.Sprintf("%s %g", a.Kind, a.Amount)
	if a.Kind == Split {
		what = fmt.Sprintf("split %g:%g", a.Numerator, a.Denominator)
	}
	return fmt.Sprintf("%s %s %s", a.Symbol, what, a.ExDate.UTC().Format(time.DateOnly))
}

// Validate checks what a can be checked for alone: a known kind, an
// ex-date at 00:00 UTC, an EffectiveAt that is the start of that date in
// some time zone (from 14 hours before to 12 hours after it), in effect no
// later than a day after asOf (further is a date in the future, not an
// action about to take effect), a finite split ratio within MaxSplitRatio
// either way, a finite positive amount. A distribution larger than the
// close it is paid from is refused by the caller, which has the bars. The
// error wraps ErrInvalidAction and names the action.
func (a Action) Validate(asOf time.Time) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidAction, a, fmt.Sprintf(format, args...))
	}
	if a.ExDate.IsZero() || !a.ExDate.Equal(a.ExDate.Truncate(24*time.Hour)) {
		return bad("ex-date %s is not a trading date (00:00 UTC)", a.ExDate.UTC().Format(time.RFC3339))
	}
	if e := a.Effective(); e.Before(a.ExDate.Add(-14*time.Hour)) || e.After(a.ExDate.Add(12*time.Hour)) {
		return bad("in effect at %s, which is not the start of its ex-date in any time zone", e.UTC().Format(time.RFC3339))
	}
	if a.Effective().After(asOf.Add(24 * time.Hour)) {
		return bad("dated in the future (the answer is as of %s)", asOf.UTC().Format(time.RFC3339))
	}
	switch a.Kind {
	case Split:
		r := a.Ratio()
		if !finite(a.Numerator) || !finite(a.Denominator) || !(a.Numerator > 0) || !(a.Denominator > 0) ||
			!(r >= 1.0/MaxSplitRatio && r <= MaxSplitRatio) {
			return bad("split ratio %g:%g is not a positive ratio within 1:%d and %d:1", a.Numerator, a.Denominator, MaxSplitRatio, MaxSplitRatio)
		}
	case Dividend, CapitalGain:
		if !finite(a.Amount) || !(a.Amount > 0) {
			return bad("amount %g is not a positive number", a.Amount)
		}
	default:
		return bad("unknown kind %q (want one of %v)", a.Kind, ActionKinds)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Actions is a list of actions with a text form, for configuration: actions
// separated by commas, each SYMBOL:split:YYYY-MM-DD:NUMERATOR:DENOMINATOR or
// SYMBOL:dividend:YYYY-MM-DD:AMOUNT (or capital_gain), e.g.
// "AAPL:split:2020-08-31:4:1,MSFT:dividend:2024-05-15:0.75".
type Actions []Action

// UnmarshalText parses the text form; every action must be valid
// (Validate, with no date in the future refused). The error names the
// action that is not.
func (as *Actions) UnmarshalText(text []byte) error {
	var out Actions
	for part := range strings.SplitSeq(string(text), ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		a, err := parseAction(part)
		if err != nil {
			return err
		}
		out = append(out, a)
	}
	*as = out
	return nil
}

// MarshalText is the text form UnmarshalText reads.
func (as Actions) MarshalText() ([]byte, error) {
	parts := make([]string, len(as))
	for i, a := range as {
		value := strconv.FormatFloat(a.Amount, 'g', -1, 64)
		if a.Kind == Split {
			value = strconv.FormatFloat(a.Numerator, 'g', -1, 64) + ":" + strconv.FormatFloat(a.Denominator, 'g', -1, 64)
		}
		parts[i] = fmt.Sprintf("%s:%s:%s:%s", a.Symbol, a.Kind, a.ExDate.UTC().Format(time.DateOnly), value)
	}
	return []byte(strings.Join(parts, ",")), nil
}

func parseAction(s string) (Action, error) {
	f := strings.Split(s, ":")
	bad := func(why string) (Action, error) {
		return Action{}, fmt.Errorf("%w %q: %s (want SYMBOL:split:YYYY-MM-DD:N:D or SYMBOL:dividend:YYYY-MM-DD:AMOUNT)", ErrInvalidAction, s, why)
	}
	if len(f) < 4 {
		return bad("too few fields")
	}
	a := Action{Symbol: f[0], Kind: ActionKind(f[1])}
	if err := ValidateSymbol(a.Symbol); err != nil {
		return bad(err.Error())
	}
	d, err := time.Parse(time.DateOnly, f[2])
	if err != nil {
		return bad("bad date")
	}
	a.ExDate = d
	nums := make([]float64, len(f)-3)
	for i, v := range f[3:] {
		if nums[i], err = strconv.ParseFloat(v, 64); err != nil {
			return bad(fmt.Sprintf("bad number %q", v))
		}
	}
	switch {
	case a.Kind == Split && len(nums) == 2:
		a.Numerator, a.Denominator = nums[0], nums[1]
	case a.Kind != Split && len(nums) == 1:
		a.Amount = nums[0]
	default:
		return bad("wrong number of values")
	}
	if err := a.Validate(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return Action{}, err
	}
	return a, nil
}
