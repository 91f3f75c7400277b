package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"marketfleet/calendar"
	"marketfleet/cmd/internal/cli"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/schedule"
	"marketfleet/tasks"
)

const (
	// tickTimeout bounds the publishing of one tick's tasks; a signal lets
	// the publish in flight finish, within this bound.
	tickTimeout = 2 * time.Minute
	// maxSleep is the longest the loop sleeps without reading the clock
	// again, so that a suspended host or a stepped clock costs at most this.
	maxSleep = time.Minute
	// wakeMargin is how long after a tick the loop wakes for it.
	wakeMargin = 100 * time.Millisecond
	// maxPending bounds the tasks kept for retry while publishing fails;
	// the oldest are dropped beyond it (the windows' overlap or a backfill
	// recovers them).
	maxPending = 100_000
)

type scheduleOpts struct {
	interval, eod, universe, requestedBy string
	marketHours, once                    bool
	lookback, maxSymbols                 int
}

func scheduleFlags() (*flag.FlagSet, *scheduleOpts) {
	o := &scheduleOpts{}
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse errors are printed on one line by run
	fs.StringVar(&o.universe, "universe", "", "file of symbols, one per line: SYMBOL [INTERVAL]; # comments (read once, at start)")
	fs.StringVar(&o.interval, "interval", "1d", "interval of universe lines that name none: 1m 2m 5m 15m 30m 60m (1h) 90m 1d 5d 1wk 1mo 3mo")
	fs.BoolVar(&o.marketHours, "market-hours", false, "intraday bars only during NYSE regular sessions; daily and longer at --eod, not 00:00 UTC")
	fs.StringVar(&o.eod, "eod", "16:30", "time of the end-of-day run, New York, 16:00-23:59, also on early-close days (needs --market-hours)")
	fs.IntVar(&o.lookback, "lookback", schedule.DefaultLookback, fmt.Sprintf("bars per task, ending with the bar that closed: 1 to %d", schedule.MaxLookback))
	fs.IntVar(&o.maxSymbols, "max-symbols", schedule.DefaultMaxEntries, "refuse, at start, a universe of more entries than this")
	fs.BoolVar(&o.once, "once", false, "publish the ticks due now, print a summary and exit (for cron)")
	host, _ := os.Hostname()
	fs.StringVar(&o.requestedBy, "requested-by", "schedule@"+host, "who asked, recorded in every task")
	return fs, o
}

// scheduler is the schedule command. now and after are its clock: time.Now
// and time.After in production; tests run it at a fixed or simulated
// instant.
type scheduler struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

func newScheduler() scheduler { return scheduler{now: time.Now, after: time.After} }

func (s scheduler) run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, o := scheduleFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "producer: schedule: %v (see producer --help)\n", err)
		return 2
	}
	p, err := o.planner(fs)
	if err != nil {
		fmt.Fprintf(stderr, "producer: schedule: %v\n", err)
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return 2
	}
	// A now outside the calendar fails before connecting.
	if _, err := p.Due(s.now(), s.now()); err != nil {
		fmt.Fprintf(stderr, "producer: schedule: %v\n", err)
		return 1
	}
	log, err := cli.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return 2
	}
	ctx, stop := cli.WithSignals(ctx, log)
	defer stop()
	pub, closeNATS, err := connectPublisher(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "producer: schedule: %v\n", err)
		return 1
	}
	defer closeNATS()
	l := &tickLoop{planner: p, publish: pub.Publish, log: log, now: s.now, after: s.after, catchUp: cfg.Config.Stream.Duplicates}
	if o.once {
		return l.once(ctx, stdout, stderr)
	}
	if err := l.run(ctx); err != nil {
		fmt.Fprintf(stderr, "producer: schedule: %v\n", err)
		return 1
	}
	return 0
}

// planner checks the flags and arguments and returns the planner they ask
// for. Errors name the flag.
func (o *scheduleOpts) planner(fs *flag.FlagSet) (*schedule.Planner, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	eod, err := time.Parse("15:04", o.eod)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--eod %q: want HH:MM, New York time", o.eod)
	case eod.Hour() < 16:
		return nil, fmt.Errorf("--eod %s: want 16:00 to 23:59, after the regular close", o.eod)
	case set["eod"] && !o.marketHours:
		return nil, errors.New("--eod needs --market-hours: without it daily bars are enqueued at 00:00 UTC")
	case o.lookback < 1 || o.lookback > schedule.MaxLookback:
		return nil, fmt.Errorf("--lookback %d: want 1 to %d", o.lookback, schedule.MaxLookback)
	case o.maxSymbols < 1:
		return nil, fmt.Errorf("--max-symbols %d: want at least 1", o.maxSymbols)
	case o.universe == "" && fs.NArg() == 0:
		return nil, errors.New("no universe: give --universe FILE (see producer --help)")
	}
	iv, err := market.ParseInterval(o.interval)
	if err != nil {
		return nil, fmt.Errorf("--interval: %w", err)
	}
	entries, err := entriesFrom(o.universe, fs.Args(), iv)
	if err != nil {
		return nil, err
	}
	if len(entries) > o.maxSymbols {
		return nil, fmt.Errorf("universe of %d entries is more than --max-symbols %d: split it across schedulers or raise --max-symbols", len(entries), o.maxSymbols)
	}
	c := schedule.Config{Entries: entries, MarketHours: o.marketHours, EOD: time.Duration(eod.Hour())*time.Hour + time.Duration(eod.Minute())*time.Minute,
		Lookback: o.lookback, MaxEntries: o.maxSymbols, RequestedBy: o.requestedBy}
	if o.marketHours {
		if c.Calendar, err = calendar.NewNYSE(); err != nil {
			return nil, err
		}
	}
	return schedule.New(c)
}

// tickLoop publishes the planner's ticks as they fall due. Its state, in
// memory only, is up to when it has planned and the tasks whose publish
// failed; a restarted or second loop recomputes the same windows, whose
// message ids the stream de-duplicates.
type tickLoop struct {
	planner *schedule.Planner
	publish publishFunc
	log     zerolog.Logger
	now     func() time.Time
	after   func(time.Duration) <-chan time.Time
	// catchUp is how far back a start publishes ticks: the stream's
	// duplicate window, within which republishing stores nothing twice.
	catchUp time.Duration
	pending []tasks.Task
}

// stepResult is what one step did.
type stepResult struct {
	ticks, tasks int
	retried      int // tasks of earlier failed publishes
	res          queue.Result
	next         time.Time
	err          error // publishing failed; the unconfirmed tasks are pending
}

// run publishes every tick as it falls due until ctx ends (nil) or the
// planner fails, as for a date the calendar does not cover (the error).
// Publishing errors are logged and retried at the next wake-up.
func (l *tickLoop) run(ctx context.Context) error {
	since := l.now().Add(-l.catchUp)
	l.log.Info().Time("since", since).Msg("schedule started: publishing ticks since the start of the duplicate window")
	for {
		now := l.now()
		r, err := l.step(ctx, since, now)
		if err != nil {
			l.log.Error().Err(err).Msg("schedule stopped: cannot plan the next tick")
			return err
		}
		since = now
		wait := min(r.next.Sub(now)+wakeMargin, maxSleep)
		select {
		case <-ctx.Done():
			l.log.Info().Int("pending", len(l.pending)).Msg("schedule stopped")
			return nil
		case <-l.after(wait):
		}
	}
}

// once publishes the ticks due now (within the catch-up window) and prints
// a summary: exit status 0, or 1 when planning or publishing failed.
func (l *tickLoop) once(ctx context.Context, stdout, stderr io.Writer) int {
	now := l.now()
	r, err := l.step(ctx, now.Add(-l.catchUp), now)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "producer: schedule: %v\n", err)
		return 1
	case r.err != nil:
		fmt.Fprintf(stderr, "producer: schedule: %v (accepted %d, duplicates %d before the failure)\n", r.err, r.res.Accepted, r.res.Duplicates)
		return 1
	}
	fmt.Fprintf(stdout, "scheduled %d tasks (%d ticks): %d accepted, %d duplicates; next tick %s\n",
		r.tasks, r.ticks, r.res.Accepted, r.res.Duplicates, r.next.Format(time.RFC3339))
	return 0
}

// step publishes the ticks due in (since, now] with the tasks left pending
// by failed publishes, logs a line if there was anything to publish, and
// finds the next tick. The error is the planner's; a publishing error is in
// the result.
func (l *tickLoop) step(ctx context.Context, since, now time.Time) (stepResult, error) {
	plan, err := l.planner.Due(since, now)
	if err != nil {
		return stepResult{}, err
	}
	r := stepResult{ticks: len(plan.Ticks), tasks: len(plan.Tasks), retried: len(l.pending)}
	batch := slices.Concat(l.pending, plan.Tasks)
	if len(batch) > 0 {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tickTimeout)
		r.res, r.err = l.publish(pctx, batch)
		cancel()
		l.pending = nil
		if r.err != nil {
			l.keep(batch[r.res.Accepted+r.res.Duplicates:])
		}
	}
	r.next, err = l.planner.Next(now)
	l.report(r, len(batch) > 0)
	return r, err
}

// report logs one line per step that published: at error level if the
// publish failed.
func (l *tickLoop) report(r stepResult, published bool) {
	if !published {
		l.log.Debug().Time("next", r.next).Msg("schedule: nothing due")
		return
	}
	ev := l.log.Info()
	if r.err != nil {
		ev = l.log.Error().Err(r.err)
	}
	ev.Int("ticks", r.ticks).Int("tasks", r.tasks).Int("retried", r.retried).
		Int("accepted", r.res.Accepted).Int("duplicates", r.res.Duplicates).
		Int("pending", len(l.pending)).Time("next", r.next).Msg("schedule tick")
}

// keep sets ts aside for the next wake-up, dropping the oldest beyond
// maxPending.
func (l *tickLoop) keep(ts []tasks.Task) {
	if drop := len(ts) - maxPending; drop > 0 {
		l.log.Warn().Int("dropped", drop).Msg("schedule: too many tasks awaiting a retry; dropping the oldest (run a backfill to recover them)")
		ts = ts[drop:]
	}
	l.pending = append([]tasks.Task(nil), ts...)
}
