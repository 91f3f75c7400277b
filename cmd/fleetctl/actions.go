package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"marketfleet/market"
	"marketfleet/store"
)

func actionsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("actions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "JSON output for scripts")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to try to reach PostgreSQL")
	if err := fs.Parse(reorder(args)); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		why := "missing the symbol"
		if fs.NArg() > 1 {
			why = fmt.Sprintf("unexpected arguments %q", fs.Args()[1:])
		}
		fmt.Fprintf(stderr, "fleetctl actions: %s (usage: fleetctl actions SYMBOL [--json])\n", why)
		return 2
	}
	symbol := strings.ToUpper(fs.Arg(0))
	if err := market.ValidateSymbol(symbol); err != nil {
		fmt.Fprintf(stderr, "fleetctl actions: %v\n", err)
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 3**timeout)
	defer cancel()
	db, err := openStatusStore(ctx, cfg.Config.DatabaseURL, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl actions: PostgreSQL unreachable (DATABASE_URL): %v\n", err)
		return 1
	}
	recs, err := db.Actions(ctx, symbol)
	_ = db.Close(context.WithoutCancel(ctx))
	if store.SQLState(err) == sqlUndefinedTable {
		err = fmt.Errorf("no corporate_actions table yet (migration 4 runs when a worker of this version starts)")
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl actions: %v\n", err)
		return 1
	}
	if *asJSON {
		err = json.NewEncoder(stdout).Encode(actionsJSON(symbol, recs))
	} else {
		err = printActions(stdout, symbol, recs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl actions: %v\n", err)
		return 1
	}
	return 0
}

// actionJSON is one action in `fleetctl actions --json`; the field names
// are stable.
type actionJSON struct {
	ExDate       string            `json:"ex_date"`
	Kind         string            `json:"kind"`
	Numerator    float64           `json:"numerator,omitempty"`
	Denominator  float64           `json:"denominator,omitempty"`
	Amount       float64           `json:"amount,omitempty"`
	Factor       float64           `json:"factor,omitempty"`
	Source       string            `json:"source"`
	FirstSeen    time.Time         `json:"first_seen_at"`
	Restatements []restatementJSON `json:"restatements"`
}

type restatementJSON struct {
	Interval string     `json:"interval"`
	Bars     int64      `json:"bars_changed"`
	First    *time.Time `json:"first_changed,omitempty"`
	Last     *time.Time `json:"last_changed,omitempty"`
	Factor   float64    `json:"factor,omitempty"`
	Refused  string     `json:"refused,omitempty"`
	At       time.Time  `json:"restated_at"`
}

func actionsJSON(symbol string, recs []store.ActionRecord) any {
	out := struct {
		Symbol  string       `json:"symbol"`
		Actions []actionJSON `json:"actions"`
	}{Symbol: symbol, Actions: []actionJSON{}}
	for _, a := range recs {
		j := actionJSON{ExDate: a.ExDate.Format(time.DateOnly), Kind: string(a.Kind), Numerator: a.Numerator,
			Denominator: a.Denominator, Amount: a.Amount, Factor: a.Factor, Source: a.Source, FirstSeen: a.FirstSeen,
			Restatements: []restatementJSON{}}
		for _, r := range a.Restatements {
			rj := restatementJSON{Interval: string(r.Interval), Bars: r.Bars, Factor: r.Factor, Refused: r.Refused, At: r.At}
			if r.Bars > 0 {
				rj.First, rj.Last = &r.First, &r.Last
			}
			j.Restatements = append(j.Restatements, rj)
		}
		out.Actions = append(out.Actions, j)
	}
	return out
}

// printActions writes one line per action, and under it one per series it
// was applied to.
func printActions(w io.Writer, symbol string, recs []store.ActionRecord) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintf(w, "%s: no corporate actions stored\n", symbol)
		return err
	}
	fmt.Fprintf(w, "%s: %d corporate action%s (the stored history is adjusted for those restated)\n", symbol, len(recs), plural(len(recs)))
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EX-DATE\tKIND\tVALUE\tSOURCE\tFIRST SEEN")
	for _, a := range recs {
		value := fmt.Sprintf("%g", a.Amount)
		if a.Kind == market.Split {
			value = fmt.Sprintf("%g:%g", a.Numerator, a.Denominator)
		} else if a.Factor > 0 {
			value += fmt.Sprintf(" (factor %.6f)", a.Factor)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ExDate.Format(time.DateOnly), a.Kind, value, a.Source,
			a.FirstSeen.UTC().Format("2006-01-02 15:04"))
		for _, r := range a.Restatements { // no cell: the line does not widen the columns
			what := "no bar to change"
			switch {
			case r.Refused != "":
				what = "refused: " + r.Refused
			case r.Bars > 0:
				what = fmt.Sprintf("%d bars %s..%s, factor %.6g", r.Bars, stamp(r.Interval, r.First), stamp(r.Interval, r.Last), r.Factor)
			}
			fmt.Fprintf(tw, "  restated %s: %s, at %s\n", r.Interval, what, r.At.UTC().Format("2006-01-02 15:04:05"))
		}
	}
	return tw.Flush()
}

// stamp is a bar start as a date, or a minute for intraday intervals.
func stamp(iv market.Interval, t time.Time) string {
	if iv.Intraday() {
		return t.UTC().Format("2006-01-02T15:04Z")
	}
	return t.UTC().Format(time.DateOnly)
}
