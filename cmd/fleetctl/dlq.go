package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/cmd/internal/cli"
	"marketfleet/dlq"
	"marketfleet/outcome"
)

// dlqFlags are the flags every dlq subcommand accepts.
type dlqFlags struct {
	filter  dlq.Filter
	limit   int
	asJSON  bool
	all     bool
	force   bool
	refused bool
	fs      *flag.FlagSet
	command string
}

func parseDLQFlags(command string, args []string, stderr io.Writer) (*dlqFlags, error) {
	f := &dlqFlags{command: command, fs: flag.NewFlagSet("dlq "+command, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.Func("class", "only this error class ("+classList()+")", func(v string) error {
		c := outcome.Class(v)
		if !c.DeadLetter() || !slices.Contains(outcome.Classes, c) {
			return fmt.Errorf("unknown class %q (want one of %s)", v, classList())
		}
		f.filter.Class = c
		return nil
	})
	f.fs.StringVar(&f.filter.Reason, "reason", "", "only reasons containing this text (case-insensitive)")
	f.fs.StringVar(&f.filter.Symbol, "symbol", "", "only this symbol")
	f.fs.DurationVar(&f.filter.OlderThan, "older-than", 0, "only dead letters older than this (e.g. 24h)")
	f.fs.DurationVar(&f.filter.NewerThan, "newer-than", 0, "only dead letters newer than this")
	f.fs.IntVar(&f.limit, "limit", 0, "list at most this many (0: all)")
	f.fs.BoolVar(&f.asJSON, "json", false, "JSON output for scripts")
	f.fs.BoolVar(&f.all, "all", false, "replay/purge every dead letter matching the filters")
	f.fs.BoolVar(&f.force, "force", false, "replay dead letters of class invalid too")
	f.fs.BoolVar(&f.refused, "refused", false, "the refused on-demand requests (FLEET_REFUSED_STREAM) instead of the dead tasks")
	if err := f.fs.Parse(reorder(args)); err != nil {
		return nil, err
	}
	return f, nil
}

// classList names the dead-letter classes, for help and errors.
func classList() string {
	var names []string
	for _, c := range outcome.Classes {
		if c.DeadLetter() {
			names = append(names, string(c))
		}
	}
	return strings.Join(names, ", ")
}

// reorder moves flags before positional arguments, so that
// "replay 12 --force" works like "replay --force 12".
func reorder(args []string) []string {
	var flags, pos []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else if len(flags) > 0 && needsValue(flags[len(flags)-1]) {
			flags = append(flags, a)
		} else {
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}

func needsValue(flagArg string) bool {
	name := strings.TrimLeft(flagArg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	switch name {
	case "json", "all", "force", "refused":
		return false
	}
	return true
}

func dlqCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "fleetctl dlq: want list, show, replay or purge (see fleetctl --help)")
		return 2
	}
	f, err := parseDLQFlags(args[0], args[1:], stderr)
	if err != nil {
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	nc, js, err := cli.ConnectNATS(ctx, cfg.Common, "marketfleet-fleetctl", zerolog.Nop())
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl: %v\n", err)
		return 1
	}
	defer nc.Close()
	admin := dlq.NewAdmin(js, cfg.Config.DLQ.Name)
	if f.refused {
		admin = dlq.NewAdmin(js, cfg.Config.DLQ.RefusedName)
	}
	switch f.command {
	case "list":
		err = list(ctx, admin, f, stdout)
	case "show":
		err = show(ctx, admin, f, stdout)
	case "replay", "purge":
		err = act(ctx, admin, f, stdout)
	default:
		fmt.Fprintf(stderr, "fleetctl dlq: unknown command %q\n", f.command)
		return 2
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "fleetctl dlq %s: %v\n", f.command, err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleetctl dlq %s: %v\n", f.command, err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func list(ctx context.Context, admin *dlq.Admin, f *dlqFlags, w io.Writer) error {
	recs, err := admin.List(ctx, f.filter, f.limit)
	if err != nil {
		return err
	}
	if f.asJSON {
		if recs == nil {
			recs = []dlq.Record{}
		}
		return json.NewEncoder(w).Encode(recs)
	}
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tDEAD AT (UTC)\tAGE\tCLASS\tSYMBOL\tDELIVERED\tWORKER\tREASON")
	now := time.Now()
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Seq, r.DeadAt.UTC().Format("2006-01-02 15:04:05"),
			age(now.Sub(r.DeadAt)), r.Class, orDash(r.Symbol), r.Delivered, r.Worker, shorten(r.Reason, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f.limit > 0 && len(recs) == f.limit {
		// More may match: say how many the stream holds (its info: no read).
		if sum, err := admin.Summary(ctx, 0); err == nil {
			fmt.Fprintf(w, "%d of %d dead letter(s) in the stream shown (--limit %d)\n", len(recs), sum.Total, f.limit)
			return nil
		}
	}
	fmt.Fprintf(w, "%d dead letter(s)\n", len(recs))
	return nil
}

func show(ctx context.Context, admin *dlq.Admin, f *dlqFlags, w io.Writer) error {
	seqs, err := seqArgs(f.fs.Args())
	if err != nil || len(seqs) != 1 {
		return usageError{"want exactly one sequence number"}
	}
	r, err := admin.Get(ctx, seqs[0])
	if err != nil {
		return err
	}
	if f.asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	fmt.Fprintf(w, "dead letter %d\n  class      %s\n  reason     %s\n  dead at    %s\n  delivered  %d times\n  worker     %s\n",
		r.Seq, r.Class, r.Reason, r.DeadAt.UTC().Format(time.RFC3339), r.Delivered, r.Worker)
	fmt.Fprintf(w, "  task       %s seq %d on %s (msg id %s)\n", r.Stream, r.StreamSeq, r.Subject, orDash(r.OrigMsgID))
	for k, vs := range r.Headers {
		fmt.Fprintf(w, "  header     %s: %s\n", k, strings.Join(vs, ", "))
	}
	if r.BodySHA256 != "" {
		fmt.Fprintf(w, "  body       %d bytes, sha256 %s\n", r.BodyBytes, r.BodySHA256)
	}
	if r.Truncated() {
		fmt.Fprintf(w, "  payload    (first %d bytes) %s\n", len(r.Payload), payloadText(r.Payload))
	} else {
		fmt.Fprintf(w, "  payload    %s\n", payloadText(r.Payload))
	}
	if r.Stack != "" {
		fmt.Fprintf(w, "  stack      %s\n", strings.ReplaceAll(strings.TrimRight(r.Stack, "\n"), "\n", "\n             "))
	}
	return nil
}

// act replays or purges the selected dead letters.
func act(ctx context.Context, admin *dlq.Admin, f *dlqFlags, w io.Writer) error {
	recs, err := selectRecords(ctx, admin, f)
	if err != nil {
		return err
	}
	done := 0
	for _, r := range recs {
		switch {
		case f.command == "purge":
			err = admin.Purge(ctx, r.Seq)
		case r.Class == outcome.Invalid && !f.force:
			fmt.Fprintf(w, "skipped %d: class invalid would fail again (use --force)\n", r.Seq)
			continue
		default:
			_, err = admin.Replay(ctx, r)
		}
		if err != nil {
			return fmt.Errorf("%w (%d of %d done)", err, done, len(recs))
		}
		done++
	}
	verb := map[string]string{"replay": "replayed", "purge": "purged"}[f.command]
	fmt.Fprintf(w, "%s %d dead letter(s)\n", verb, done)
	return nil
}

func selectRecords(ctx context.Context, admin *dlq.Admin, f *dlqFlags) ([]dlq.Record, error) {
	seqs, err := seqArgs(f.fs.Args())
	if err != nil {
		return nil, err
	}
	switch {
	case f.all && len(seqs) > 0:
		return nil, usageError{"give sequence numbers or --all, not both"}
	case f.all:
		return admin.List(ctx, f.filter, 0)
	case len(seqs) == 0:
		return nil, usageError{"give sequence numbers, or --all with optional filters"}
	}
	recs := make([]dlq.Record, 0, len(seqs))
	for _, s := range seqs {
		r, err := admin.Get(ctx, s)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func seqArgs(args []string) ([]uint64, error) {
	out := make([]uint64, 0, len(args))
	for _, a := range args {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			return nil, usageError{fmt.Sprintf("%q is not a sequence number", a)}
		}
		out = append(out, n)
	}
	return out, nil
}

// payloadText shows a payload as is when it is printable ASCII, quoted
// otherwise (poison input must not reach the terminal raw).
func payloadText(p []byte) string {
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			return strconv.QuoteToASCII(string(p))
		}
	}
	return string(p)
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
