package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Rendering limits that keep the report on one screen.
const (
	maxListedSlots = 5 // held slots and waiting replicas listed each
	maxListedApps  = 6 // applications listed by sessions
	shownReasonLen = 70
	barWidth       = 50 // the sessions bar; the 80% line sits at 40
)

const timeLayout = "2006-01-02 15:04"

// painter colours text with ANSI escapes, or leaves it alone when off.
type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p painter) bold(s string) string { return p.paint("1", s) }

func (p painter) level(level, s string) string {
	switch level {
	case levelOK:
		return p.paint("32", s)
	case levelWarn:
		return p.paint("33", s)
	}
	return p.paint("1;31", s)
}

// renderJSON writes r, finished at now, as one JSON document: indented, or
// on one line for --watch.
func renderJSON(w io.Writer, r statusReport, now time.Time, indent bool) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // filters end in ">"
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(finish(r, now))
}

// render writes r, finished at now, for a person: ANSI colours when colour
// is set. It is a pure function of its arguments.
func render(w io.Writer, r statusReport, now time.Time, colour bool) error {
	r = finish(r, now)
	p := painter(colour)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s  %s\n", p.bold("fleetctl status"), r.At.UTC().Format("2006-01-02 15:04:05 UTC"))
	renderVerdict(bw, r.Verdict, p)
	renderBacklog(bw, r, p)
	renderDeadLetters(bw, r, now, p)
	renderSlots(bw, r, now, p)
	renderSource(bw, r, now, p)
	renderPostgres(bw, r, p)
	renderFailures(bw, r, now, p)
	renderRestatements(bw, r, p)
	renderHistory(bw, r, now, p)
	renderFreshness(bw, r, now, p)
	return bw.Flush()
}

func renderVerdict(w io.Writer, v verdict, p painter) {
	texts := make([]string, len(v.Findings))
	for i, f := range v.Findings {
		texts[i] = p.level(f.Level, f.Text)
	}
	line := p.level(v.Level, v.Level)
	if len(texts) > 0 {
		line += "  " + strings.Join(texts, "; ")
	}
	fmt.Fprintln(w, line)
}

// heading starts a section; it returns false (having said so) when the
// section's service could not be read (the verdict says why).
func heading(w io.Writer, p painter, title string, have bool, why string) bool {
	fmt.Fprintf(w, "\n%s", p.bold(title))
	if !have {
		fmt.Fprintf(w, ": %s\n", p.level(levelCrit, "unavailable ("+why+")"))
	}
	return have
}

// why says why section (its JSON name), from service, is absent: its own
// error (a time limit that ran out), or the service being unreachable.
func (r statusReport) why(section, service string) string {
	if e := r.SectionErrors[section]; e != "" {
		return e
	}
	return service + " could not be read"
}

func renderBacklog(w io.Writer, r statusReport, p painter) {
	b := r.Backlog
	if !heading(w, p, "Backlog", b != nil, r.why("backlog", "NATS")) {
		return
	}
	if b.Missing {
		fmt.Fprintf(w, ": %s\n", p.level(levelCrit, "stream "+b.Stream+" does not exist"))
		return
	}
	fmt.Fprintf(w, " (stream %s: %d messages, %s)\n", b.Stream, b.Messages, sizeOf(b.Bytes))
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CONSUMER\tPENDING\tACK PENDING\tREDELIVERED\tOLDEST WAITING")
	for _, c := range b.Consumers {
		if c.Missing {
			fmt.Fprintf(tw, "  %s\t-\t-\t-\t%s\n", c.Name, p.level(levelCrit, "does not exist"))
			continue
		}
		oldest := "none"
		if c.OldestWaitingAge != nil {
			oldest = age(time.Duration(*c.OldestWaitingAge)*time.Second) + " (published " + c.OldestWaiting.Format(timeLayout) + ")"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", c.Name, c.Pending, c.AckPending, c.Redelivered, oldest)
	}
	_ = tw.Flush()
}

func renderDeadLetters(w io.Writer, r statusReport, now time.Time, p painter) {
	d := r.DeadLetters
	if !heading(w, p, "Dead letters", d != nil, r.why("dead_letters", "NATS")) {
		return
	}
	defer func() {
		if n := d.RefusedRequests; n != nil && *n > 0 {
			fmt.Fprintf(w, "  refused on-demand requests recorded: %d (fleetctl dlq list --refused)\n", *n)
		}
	}()
	if d.Total == 0 {
		fmt.Fprintln(w, ": none")
		return
	}
	fmt.Fprintf(w, ": %s (newest %s; the stream %.0f%% full)\n", p.level(levelWarn, fmt.Sprint(d.Total)), agoAt(now, *d.Newest), d.UsedPercent)
	classes := slices.Sorted(maps.Keys(d.ByClass))
	slices.SortStableFunc(classes, func(a, b string) int { return d.ByClass[b] - d.ByClass[a] })
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%s %d", c, d.ByClass[c])
	}
	fmt.Fprintf(w, "  by class: %s\n", strings.Join(parts, ", "))
	if d.ReasonsAmong < d.Total {
		fmt.Fprintf(w, "  commonest reasons among the newest %d:\n", d.ReasonsAmong)
	}
	for _, rc := range d.TopReasons {
		fmt.Fprintf(w, "  %5d× %s\n", rc.Count, shorten(rc.Reason, shownReasonLen))
	}
}

func renderSlots(w io.Writer, r statusReport, now time.Time, p painter) {
	s := r.Slots
	if !heading(w, p, "Connection slots", s != nil, r.why("slots", "NATS")) {
		return
	}
	waiting := fmt.Sprintf("%d waiting", len(s.Waiting))
	if len(s.Waiting) > 0 {
		waiting = p.level(levelWarn, waiting)
	}
	budget := "no budget published (the holder of the lowest slot publishes it)"
	if l := s.Limit; l != nil {
		budget = fmt.Sprintf("budget %d (published by %s %s)", l.Slots, l.By, agoAt(now, l.At))
		if l.Slots == 0 {
			budget = p.level(levelCrit, budget)
		}
	}
	fmt.Fprintf(w, ": %d held, %s; %s\n", len(s.Held), waiting, budget)
	if l := s.Limit; l != nil && l.Arithmetic != "" {
		fmt.Fprintf(w, "    %s\n", l.Arithmetic)
	}
	for i, h := range s.Held {
		if i == maxListedSlots {
			fmt.Fprintf(w, "    ... and %d more held\n", len(s.Held)-i)
			break
		}
		fmt.Fprintf(w, "    slot %-3d %s, since %s\n", h.Slot, h.Holder, agoAt(now, h.Since))
	}
	for i, h := range s.Waiting {
		if i == maxListedSlots {
			fmt.Fprintf(w, "    ... and %d more waiting\n", len(s.Waiting)-i)
			break
		}
		fmt.Fprintf(w, "    waiting  %s, since %s\n", h.Holder, agoAt(now, h.Since))
	}
}

func renderPostgres(w io.Writer, r statusReport, p painter) {
	pg := r.Postgres
	if !heading(w, p, "PostgreSQL", pg != nil, r.why("postgres", "PostgreSQL")) {
		return
	}
	level := sessionLevel(pg)
	usage := fmt.Sprintf("%d of %d sessions (%.0f%%)", pg.Sessions, pg.MaxConnections, pg.UsagePercent)
	mark := ""
	switch level {
	case levelWarn:
		mark = "  " + p.level(level, "WARN: above the 80% line")
	case levelCrit:
		mark = "  " + p.level(level, "CRIT: no session left for ordinary roles")
	}
	fmt.Fprintf(w, ": %s%s\n", p.level(level, usage), mark)
	fmt.Fprintf(w, "  %s  | = the 80%% line\n", p.level(level, sessionBar(pg.UsagePercent)))
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	for i, a := range pg.Apps {
		if i == maxListedApps {
			rest := 0
			for _, o := range pg.Apps[i:] {
				rest += o.Sessions
			}
			fmt.Fprintf(tw, "  (%d more applications)\t%d\n", len(pg.Apps)-i, rest)
			break
		}
		fmt.Fprintf(tw, "  %s\t%d\n", appLabel(a), a.Sessions)
	}
	_ = tw.Flush()
}

// sessionBar draws usage over barWidth cells with the 80% line as '|'.
func sessionBar(usage float64) string {
	used := min(int(usage*barWidth/100+0.5), barWidth)
	line := int(sessionWarnPercent) * barWidth / 100
	var b strings.Builder
	b.WriteByte('[')
	for i := range barWidth {
		if i == line {
			b.WriteByte('|')
		}
		if i < used {
			b.WriteByte('#')
		} else {
			b.WriteByte('.')
		}
	}
	b.WriteByte(']')
	return b.String()
}

func appLabel(a appSessions) string {
	switch {
	case a.Workers > 0:
		return fmt.Sprintf("%s (%d worker%s)", a.Name, a.Workers, plural(a.Workers))
	case a.Name == "":
		return "(no application_name)"
	}
	return a.Name
}

func renderFailures(w io.Writer, r statusReport, now time.Time, p painter) {
	f := r.Failures
	if !heading(w, p, "Failures (last hour)", f != nil, r.why("failures", "PostgreSQL")) {
		return
	}
	defer renderDelayed(w, f.Delayed, now)
	all := f.OK + f.Retried + f.DeadLettered
	switch {
	case f.Unavailable != "":
		fmt.Fprintf(w, ": %s\n", f.Unavailable)
		return
	case all == 0:
		fmt.Fprintln(w, ": no tasks in the last hour")
		return
	}
	rate := fmt.Sprintf("%.1f%% failed", f.FailurePercent)
	fmt.Fprintf(w, ": %s (ok %d, retried %d, dead-lettered %d)\n", p.level(failureLevel(f), rate), f.OK, f.Retried, f.DeadLettered)
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	for _, k := range f.ByKind {
		fmt.Fprintf(tw, "  %s\tok %d\tretried %d\tdead-lettered %d\n", k.Kind, k.OK, k.Retried, k.DeadLettered)
	}
	_ = tw.Flush()
}

// renderDelayed says how many tasks wait on a retry delay, and which waits
// longest.
func renderDelayed(w io.Writer, d *delayedStatus, now time.Time) {
	switch {
	case d == nil:
		return
	case d.Longest == nil:
		fmt.Fprintln(w, "  waiting on a retry delay: none")
		return
	}
	l := d.Longest
	fmt.Fprintf(w, "  waiting on a retry delay: %d task%s, the longest until %s (in %s): %s %s, %s: %s\n",
		d.Waiting, plural(int(d.Waiting)), l.RetryAt.Format(timeLayout), age(l.RetryAt.Sub(now)), l.Symbol, l.Kind, l.Class, shorten(l.Reason, 80))
}

func renderRestatements(w io.Writer, r statusReport, p painter) {
	s := r.Restatements
	if !heading(w, p, "Restatements (last 24 h)", s != nil, r.why("restatements", "PostgreSQL")) {
		return
	}
	pending := ""
	if s.Pending > 0 {
		pending = fmt.Sprintf("; %d series still owed one (queued)", s.Pending)
	}
	switch {
	case s.Unavailable != "":
		fmt.Fprintf(w, ": %s\n", s.Unavailable)
		return
	case len(s.ByKind) == 0:
		fmt.Fprintf(w, ": none%s\n", pending)
		return
	}
	fmt.Fprintf(w, "%s\n", pending)
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	for _, k := range s.ByKind {
		line := fmt.Sprintf("  %s\t%d series of %d symbol%s\t%d bars", k.Kind, k.Series, k.Symbols, plural(int(k.Symbols)), k.Bars)
		if k.Refused > 0 {
			line += "\t" + p.level(levelWarn, fmt.Sprintf("%d refused (fleetctl actions SYMBOL says why)", k.Refused))
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

func renderHistory(w io.Writer, r statusReport, now time.Time, p painter) {
	h := r.History
	if !heading(w, p, "History", h != nil, r.why("history", "PostgreSQL")) {
		return
	}
	if h.Unavailable != "" {
		fmt.Fprintf(w, ": %s\n", h.Unavailable)
		return
	}
	fmt.Fprintln(w)
	prov := fmt.Sprintf("  provisional bars %d", h.Provisional)
	if h.Due > 0 {
		due := fmt.Sprintf("%d due for re-collection", h.Due)
		if h.OldestDue != nil && now.Sub(*h.OldestDue) >= dueWarnAge {
			due = p.level(levelWarn, due+", the oldest for "+age(now.Sub(*h.OldestDue)))
		}
		prov += " (" + due + ")"
	}
	fmt.Fprintf(w, "%s, known holes %d\n", prov, h.KnownHoles)
	a := h.LastAudit
	if a == nil {
		fmt.Fprintln(w, "  last audit: never (fleetctl audit)")
		return
	}
	gaps := fmt.Sprintf("%d gap%s, %d bars missing", a.Gaps, plural(a.Gaps), a.Missing)
	if a.Persisting > 0 {
		gaps += ", " + p.level(levelWarn, fmt.Sprintf("%d persisting after a repair", a.Persisting))
	}
	scope := ""
	if a.Scope != "" {
		scope = " (" + a.Scope + ")"
	}
	fmt.Fprintf(w, "  last audit %s ago by %s%s: %d series, %s, %d repair tasks\n",
		age(now.Sub(a.At)), a.By, scope, a.Series, gaps, a.RepairTasks)
}

func renderFreshness(w io.Writer, r statusReport, now time.Time, p painter) {
	f := r.Freshness
	if !heading(w, p, "Freshness", f != nil, r.why("freshness", "PostgreSQL")) {
		return
	}
	switch {
	case f.Unavailable != "":
		fmt.Fprintf(w, ": %s\n", f.Unavailable)
		return
	case len(f.Series) == 0:
		fmt.Fprintln(w, ": no bars stored")
		return
	}
	fmt.Fprintf(w, " (%d stalest series)\n", len(f.Series))
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SYMBOL\tINTERVAL\tLAST BAR (UTC)\tAGE\tLAST WRITE (UTC)")
	for _, s := range f.Series {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s (%s)\n", s.Symbol, s.Interval, s.LastBar.Format(timeLayout),
			age(time.Duration(s.AgeSeconds)*time.Second), s.LastWrite.UTC().Format(timeLayout), agoAt(now, s.LastWrite))
	}
	_ = tw.Flush()
}

func sizeOf(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// agoAt is how long before now t was, briefly ("3m ago").
func agoAt(now, t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return age(now.Sub(t)) + " ago"
}

func renderSource(w io.Writer, r statusReport, now time.Time, p painter) {
	if !heading(w, p, "Source rate (fleet-wide)", r.Source != nil, r.why("source", "NATS")) {
		return
	}
	if len(*r.Source) == 0 {
		fmt.Fprintln(w, ": unlimited (no FLEET_SOURCE_RATE in use)")
		return
	}
	fmt.Fprintln(w)
	for _, s := range *r.Source {
		line := fmt.Sprintf("  %s: %.3g of %.3g requests/s", s.Key, s.Current, s.Configured)
		level := levelOK
		if s.Current < s.Configured && s.CutAt != nil {
			line += fmt.Sprintf(", cut %s ago (%s), recovering", age(now.Sub(*s.CutAt)), s.Reason)
			if s.Current < s.Configured/2 {
				level = levelWarn
			}
		}
		switch {
		case s.PausedUntil != nil:
			line += fmt.Sprintf("; breaker OPEN until %s (opening %d, failing since %s: %s)",
				s.PausedUntil.UTC().Format("15:04:05"), s.Openings, s.FailingSince.UTC().Format("15:04:05"), s.Reason)
			level = levelWarn
		case s.FailingSince != nil:
			line += fmt.Sprintf("; failing for %s (%s)", age(now.Sub(*s.FailingSince)), s.Reason)
		}
		fmt.Fprintln(w, p.level(level, line))
	}
}
