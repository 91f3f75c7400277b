package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// How often a Progress draws: on a terminal the bar is redrawn at most every
// ttyEvery; elsewhere (a log file, a pipe) a plain line every plainEvery.
const (
	plainEvery = 5 * time.Second
	ttyEvery   = 100 * time.Millisecond
)

// Progress reports a long operation's progress on w: on a terminal a bar
// redrawn in place, elsewhere a plain line, prefixed, every plainEvery.
type Progress struct {
	w            io.Writer
	tty          bool
	prefix, unit string
	total        int
	now          func() time.Time
	start, last  time.Time
}

// NewProgress returns a Progress towards total units ("tasks", "bars"),
// whose plain lines start with prefix ("producer: backfill"). It draws a
// bar when w is a terminal.
func NewProgress(w io.Writer, prefix, unit string, total int, now func() time.Time) *Progress {
	return newProgress(w, isTerminal(w), prefix, unit, total, now)
}

func newProgress(w io.Writer, tty bool, prefix, unit string, total int, now func() time.Time) *Progress {
	t := now()
	return &Progress{w: w, tty: tty, prefix: prefix, unit: unit, total: total, now: now, start: t, last: t}
}

// Update reports done units, throttled; the last one is always reported.
func (p *Progress) Update(done int) {
	t := p.now()
	every := plainEvery
	if p.tty {
		every = ttyEvery
	}
	if t.Sub(p.last) < every && done < p.total {
		return
	}
	p.draw(done, t)
}

// Finish redraws the bar with done units and ends its line (on a terminal).
func (p *Progress) Finish(done int) {
	if p.tty && done > 0 {
		p.draw(done, p.now())
		fmt.Fprintln(p.w)
	}
}

func (p *Progress) draw(done int, t time.Time) {
	p.last = t
	if p.tty {
		fmt.Fprintf(p.w, "\r%s %s\x1b[K", p.bar(done), p.line(done, t))
		return
	}
	fmt.Fprintf(p.w, "%s %s\n", p.prefix, p.line(done, t))
}

func (p *Progress) line(done int, t time.Time) string {
	pct := 100
	if p.total > 0 {
		pct = 100 * done / p.total
	}
	rate, eta := 0.0, "?"
	if s := t.Sub(p.start).Seconds(); s > 0 && done > 0 {
		rate = float64(done) / s
		eta = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%d/%d %s (%d%%), %.0f %s/s, ETA %s", done, p.total, p.unit, pct, rate, p.unit, eta)
}

func (p *Progress) bar(done int) string {
	const width = 30
	n := width
	if p.total > 0 {
		n = width * min(done, p.total) / p.total
	}
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}
