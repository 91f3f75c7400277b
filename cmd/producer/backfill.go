package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/cmd/internal/cli"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/tasks"
)

const (
	// defaultMaxTasks is the default of --max-tasks.
	defaultMaxTasks = 100_000
	// backfillChunk is how many tasks one Publish call sends; a signal stops
	// the backfill between chunks, never inside one.
	backfillChunk = queue.DefaultPublishWindow
	// chunkTimeout bounds the publishing of one chunk.
	chunkTimeout = time.Minute
	// setupTimeout bounds connecting to NATS and ensuring the stream.
	setupTimeout = time.Minute
	// exitInterrupted is the exit status of a backfill stopped by a signal.
	exitInterrupted = 130

	day = 24 * time.Hour
)

type backfillOpts struct {
	interval, rng, from, to string
	universe, requestedBy   string
	windowBars, maxTasks    int
	force                   bool
}

func backfillFlags() (*flag.FlagSet, *backfillOpts) {
	o := &backfillOpts{}
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse errors are printed on one line by backfill
	fs.StringVar(&o.interval, "interval", "1d", "bar interval: 1m 2m 5m 15m 30m 60m (1h) 90m 1d 5d 1wk 1mo 3mo")
	fs.StringVar(&o.rng, "range", "", "history ending with the current bar: Nd, Nwk, Nmo, Ny, ytd or max (required unless --from)")
	fs.StringVar(&o.from, "from", "", "history start: 2014-01-01 or RFC 3339 (required unless --range)")
	fs.StringVar(&o.to, "to", "", "history end, exclusive (default: end of the current bar)")
	fs.IntVar(&o.windowBars, "window-bars", 0, fmt.Sprintf("most bars per task, 1 to %d (default: 1000 for 1d and longer,\n30 days of bars for 2m to 90m, 7 days for 1m)", tasks.MaxWindowBars))
	fs.IntVar(&o.maxTasks, "max-tasks", defaultMaxTasks, "refuse, before publishing anything, a backfill of more tasks than this")
	fs.StringVar(&o.universe, "universe", "", "file of symbols, one per line: SYMBOL [INTERVAL]; # comments")
	host, _ := os.Hostname()
	fs.StringVar(&o.requestedBy, "requested-by", "producer@"+host, "who asked, recorded in every task")
	fs.BoolVar(&o.force, "force", false, forceHelp+"; a rerun forces every window again")
	return fs, o
}

func backfill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, o := backfillFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "producer: backfill: %v (see producer --help)\n", err)
		return 2
	}
	now := time.Now()
	p, err := planBackfill(o, fs.Args(), now)
	if err != nil {
		fmt.Fprintf(stderr, "producer: backfill: %v\n", err)
		return 2
	}
	for _, w := range p.historyWarnings(now) {
		fmt.Fprintf(stderr, "producer: warning: %s\n", w)
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return 2
	}
	res, done, err := publishBackfill(ctx, cfg, p.tasks, stderr)
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "producer: backfill interrupted after %d of %d tasks (%d accepted, %d duplicates): run the same command again to publish the rest\n",
			done, len(p.tasks), res.Accepted, res.Duplicates)
		return exitInterrupted
	case err != nil:
		fmt.Fprintf(stderr, "producer: backfill: %v (%d of %d tasks published: %d accepted, %d duplicates)\n",
			err, done, len(p.tasks), res.Accepted, res.Duplicates)
		return 1
	}
	fmt.Fprintf(stdout, "backfilled %d tasks (%s): %s\n", len(p.tasks), p.shape(), publishOutcome(res, o.force))
	return 0
}

// backfillPlan is every task of one backfill, validated, in publishing
// order: per interval, newest window first, symbols in the order given.
type backfillPlan struct {
	groups []planGroup
	tasks  []tasks.Task
}

// planGroup is the symbols of one interval and the windows they share.
type planGroup struct {
	iv       market.Interval
	symbols  []string
	from, to time.Time
	bars     int // most bars per window
	windows  int // how many windows the history splits into
}

// planBackfill resolves the history, refuses a backfill larger than
// --max-tasks before building it, then splits the history and builds and
// validates every task.
func planBackfill(o *backfillOpts, args []string, now time.Time) (*backfillPlan, error) {
	if err := o.check(args); err != nil {
		return nil, err
	}
	iv, err := market.ParseInterval(o.interval)
	if err != nil {
		return nil, fmt.Errorf("--interval: %w", err)
	}
	entries, err := entriesFrom(o.universe, args, iv)
	if err != nil {
		return nil, err
	}
	p := &backfillPlan{groups: groupByInterval(entries)}
	total := 0
	for i := range p.groups {
		n, err := p.groups[i].resolve(o, now)
		if err != nil {
			return nil, err
		}
		total += n * len(p.groups[i].symbols)
	}
	if total > o.maxTasks {
		return nil, fmt.Errorf("%d tasks (%s) is more than --max-tasks %d: shorten the range, raise --window-bars or --max-tasks",
			total, p.shape(), o.maxTasks)
	}
	if err := p.build(o.requestedBy, o.force, now); err != nil {
		return nil, err
	}
	return p, nil
}

func (o *backfillOpts) check(args []string) error {
	switch {
	case o.rng == "" && o.from == "":
		return errors.New("give --from DATE or --range (e.g. --range 10y): backfill has no default history")
	case o.windowBars < 0 || o.windowBars > tasks.MaxWindowBars:
		return fmt.Errorf("--window-bars %d: want 1 to %d (or leave it unset for the interval's default)", o.windowBars, tasks.MaxWindowBars)
	case o.maxTasks < 1:
		return fmt.Errorf("--max-tasks %d: want at least 1", o.maxTasks)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			return fmt.Errorf("flag %s after the symbols: put flags before the symbols", a)
		}
	}
	return nil
}

func groupByInterval(entries []market.UniverseEntry) []planGroup {
	var gs []planGroup
	at := map[market.Interval]int{}
	for _, e := range entries {
		i, ok := at[e.Interval]
		if !ok {
			i = len(gs)
			at[e.Interval] = i
			gs = append(gs, planGroup{iv: e.Interval})
		}
		gs[i].symbols = append(gs[i].symbols, e.Symbol)
	}
	return gs
}

// resolve sets the group's history and window size and returns how many
// windows it splits into.
func (g *planGroup) resolve(o *backfillOpts, now time.Time) (int, error) {
	var err error
	g.from, g.to, err = tasks.ResolveWindow(g.iv, o.rng, o.from, o.to, now)
	if err != nil {
		return 0, err
	}
	g.bars = o.windowBars
	if g.bars == 0 {
		g.bars = defaultWindowBars(g.iv)
	}
	g.windows, err = tasks.CountWindows(g.iv, g.from, g.to, g.bars)
	if err != nil {
		return 0, fmt.Errorf("%s history: %w", g.iv, err)
	}
	return g.windows, nil
}

func (p *backfillPlan) build(requestedBy string, force bool, now time.Time) error {
	for i := range p.groups {
		g := &p.groups[i]
		ws, err := tasks.SplitWindow(g.iv, g.from, g.to, g.bars)
		if err != nil {
			return fmt.Errorf("%s history: %w", g.iv, err)
		}
		for j := len(ws) - 1; j >= 0; j-- {
			for _, sym := range g.symbols {
				t := tasks.NewCollect(sym, g.iv, ws[j].From, ws[j].To, requestedBy, now)
				t.Forced = force
				if err := t.Validate(); err != nil {
					return fmt.Errorf("%s: %w", t.MsgID(), err)
				}
				p.tasks = append(p.tasks, t)
			}
		}
	}
	return nil
}

// shape is "W windows x S symbols", per interval when there are several.
func (p *backfillPlan) shape() string {
	parts := make([]string, len(p.groups))
	for i, g := range p.groups {
		parts[i] = fmt.Sprintf("%d windows x %d symbols", g.windows, len(g.symbols))
		if len(p.groups) > 1 {
			parts[i] = string(g.iv) + ": " + parts[i]
		}
	}
	return strings.Join(parts, ", ")
}

// historyWarnings names the groups that reach further back than the Yahoo
// source serves bars of their interval.
func (p *backfillPlan) historyWarnings(now time.Time) []string {
	var ws []string
	for _, g := range p.groups {
		limit := sourceHistory(g.iv)
		if limit == 0 || !g.from.Before(now.Add(-limit)) {
			continue
		}
		ws = append(ws, fmt.Sprintf("Yahoo serves only the last %d days of %s bars: windows before %s will likely fail or come back empty",
			limit/day, g.iv, now.Add(-limit).UTC().Format(time.DateOnly)))
	}
	return ws
}

// defaultWindowBars is the window size when --window-bars is not given: 7
// days of 1m bars (Yahoo serves at most 8 days of them per request), 30 days
// of other intraday bars, and 1000 bars (for 1d, about 2.7 years) otherwise.
func defaultWindowBars(iv market.Interval) int {
	switch {
	case iv == market.Interval1m:
		return int(7 * day / iv.Step())
	case iv.Intraday():
		return int(30 * day / iv.Step())
	}
	return 1000
}

// sourceHistory is how far back Yahoo serves bars of iv, or 0 for no limit.
func sourceHistory(iv market.Interval) time.Duration {
	switch {
	case iv == market.Interval1m:
		return 30 * day
	case iv == market.Interval60m:
		return 730 * day
	case iv.Intraday():
		return 60 * day
	}
	return 0
}

// publishBackfill connects, then publishes ts chunk by chunk with a progress
// display on stderr until done or until the first SIGINT or SIGTERM, which
// lets the chunk in flight finish. It returns what was published and how
// many tasks that is; the error wraps context.Canceled after a signal.
func publishBackfill(ctx context.Context, cfg *config, ts []tasks.Task, stderr io.Writer) (queue.Result, int, error) {
	log, err := cli.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return queue.Result{}, 0, err
	}
	ctx, stop := cli.WithSignals(ctx, log)
	defer stop()
	pub, closeNATS, err := connectPublisher(ctx, cfg, log)
	if err != nil {
		return queue.Result{}, 0, err
	}
	defer closeNATS()
	prog := cli.NewProgress(stderr, "producer: backfill", "tasks", len(ts), time.Now)
	res, done, err := publishChunks(ctx, ts, backfillChunk, pub.Publish, prog)
	prog.Finish(done)
	return res, done, err
}

func connectPublisher(ctx context.Context, cfg *config, log zerolog.Logger) (*queue.Publisher, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	nc, js, err := cli.ConnectNATS(ctx, cfg.Common, "marketfleet-producer", log)
	if err != nil {
		return nil, nil, err
	}
	_, drift, err := queue.EnsureStream(ctx, js, cfg.Config.StreamConfig())
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if len(drift) > 0 {
		log.Warn().Str("stream", cfg.Config.Stream.Name).Strs("differences", drift).Msg(queue.DriftAdvice)
	}
	return queue.NewPublisher(js, cfg.Config.Stream.Name), nc.Close, nil
}

// publishFunc publishes one chunk of tasks (queue.Publisher.Publish).
type publishFunc func(context.Context, []tasks.Task) (queue.Result, error)

// publishChunks publishes ts in chunks of size. Each chunk runs under its own
// timeout, detached from ctx, so that cancelling ctx stops the loop after the
// chunk in flight instead of abandoning its acks. It returns the summed
// results and how many tasks were confirmed; after a cancellation the error
// wraps ctx's error.
func publishChunks(ctx context.Context, ts []tasks.Task, size int, pub publishFunc, prog *cli.Progress) (queue.Result, int, error) {
	var res queue.Result
	done := 0
	for done < len(ts) {
		if err := ctx.Err(); err != nil {
			return res, done, fmt.Errorf("stopped after %d of %d tasks: %w", done, len(ts), err)
		}
		end := min(done+size, len(ts))
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chunkTimeout)
		r, err := pub(cctx, ts[done:end])
		cancel()
		res.Accepted += r.Accepted
		res.Duplicates += r.Duplicates
		if err != nil {
			return res, done + r.Accepted + r.Duplicates, fmt.Errorf("publish tasks %d-%d of %d: %w", done+1, end, len(ts), err)
		}
		done = end
		prog.Update(done)
	}
	return res, done, nil
}
