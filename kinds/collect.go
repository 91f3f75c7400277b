package kinds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"marketfleet/market"
	"marketfleet/outcome"
	"marketfleet/runner"
	"marketfleet/source"
	"marketfleet/store"
	"marketfleet/tasks"
)

// Collect is the handler of collect tasks (tasks.KindCollect): fetch the
// bars of one symbol and interval whose start lies in the task's window,
// with the corporate actions the source reports, and store them: all the
// batch's bars in one statement, the actions new to the table in another.
// A series that a recorded action has not been applied to yet gets a
// restate task (see Restate). Its Config says where the bars come from and
// whether features follow.
type Collect struct {
	Config
}

// collecting is what one collect task carries from phase to phase.
type collecting struct {
	// from is where fetching starts: the task's From, or later for an
	// incremental task whose series is stored up to then.
	from time.Time
	bars []market.Bar
	// actions are the source's, checked; restate lists the series of the
	// symbol that an action has not been applied to yet.
	actions []market.Action
	restate []market.Series
	// change is what the committed write changed in the series; changed
	// is false when it changed nothing.
	change  store.SeriesChange
	changed bool
	// holes are the bars a repair task's answer lacked, recorded as known
	// holes.
	holes int64
}

var _ runner.Handler[collecting] = Collect{}

// Kind is tasks.KindCollect.
func (Collect) Kind() tasks.Kind { return tasks.KindCollect }

// Prepare narrows incremental tasks, in one round trip for the batch: such
// a task starts one bar before the last stored bar of its series (so the
// newest stored bar, which may have been incomplete, is fetched again), or
// at its earliest provisional bar if that is earlier (so a scheduled run
// re-collects provisional bars until they are final), when that is later
// than its From. A scheduled run thus fetches two bars for an up-to-date,
// final series. If the tails cannot be read, the tasks fetch their whole
// window.
func (c Collect) Prepare(ctx context.Context, db store.Reader, jobs []*runner.Job[collecting]) error {
	var inc []*runner.Job[collecting]
	var series []market.Series
	for _, j := range jobs {
		j.State.from = j.Task.From
		if j.Task.Incremental {
			inc, series = append(inc, j), append(series, j.Series())
		}
	}
	if len(inc) == 0 {
		return nil
	}
	tails, err := db.Tails(ctx, series)
	if err != nil {
		c.Logger.Warn().Err(err).Msg("could not read the last stored bars: fetching whole windows")
		return nil
	}
	for _, j := range inc {
		tail, ok := tails[j.Series()]
		if !ok {
			continue
		}
		from := j.Task.Interval.Floor(tail.Last.Add(-time.Nanosecond))
		if !tail.FirstProvisional.IsZero() && tail.FirstProvisional.Before(from) {
			from = tail.FirstProvisional
		}
		if from.After(j.State.from) {
			j.State.from = from
		}
	}
	return nil
}

// Fetch asks the source for the task's bars and actions (none when the
// window is already stored), and marks each bar fetched before it was final
// with the instant it will be (Config.History). An answer with an
// impossible bar (source.Response.Check) or an action that fails its
// checks (see checkActions) is refused whole: the job fails with
// source.ErrBadData (class bad_data) and nothing of it is stored. An empty
// answer is reported (Config.Empty).
func (c Collect) Fetch(ctx context.Context, j *runner.Job[collecting]) error {
	if !j.State.from.Before(j.Task.To) {
		return nil
	}
	req := source.Request{Symbol: j.Task.Symbol, Interval: j.Task.Interval, From: j.State.from, To: j.Task.To}
	resp, err := c.fetch(ctx, req)
	if err != nil {
		return err
	}
	actions, err := checkActions(resp)
	if err != nil {
		return fmt.Errorf("refusing the answer of %s: %w: %w", c.Source.Name(), source.ErrBadData, err)
	}
	if err := resp.Check(req); err != nil {
		return fmt.Errorf("refusing the answer of %s: %w", c.Source.Name(), err)
	}
	if len(resp.Bars) == 0 && c.Empty != nil {
		c.Empty(req)
	}
	if c.History != nil {
		for i, b := range resp.Bars {
			resp.Bars[i].ProvisionalUntil = c.History.ProvisionalUntil(b.Series(), b.TS, resp.AsOf)
		}
	}
	j.State.bars, j.State.actions = resp.Bars, actions
	return nil
}

// fetch asks the source, within Config.Deadline of the source's own time.
// A fetch cut by it fails with ErrDeadline, transient whatever the source
// made of the cancellation (a body cut short is not bad data).
func (c Collect) fetch(ctx context.Context, req source.Request) (source.Response, error) {
	if c.Deadline <= 0 {
		return c.Source.Fetch(ctx, req)
	}
	dctx, cancel := source.WithDeadline(ctx, c.Deadline)
	defer cancel()
	resp, err := c.Source.Fetch(dctx, req)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(dctx), source.ErrDeadline) {
		err = outcome.Mark(outcome.Transient, fmt.Errorf("%w (%s, FLEET_TASK_DEADLINE): %w", ErrDeadline, c.Deadline, err))
	}
	return resp, err
}

// checkActions checks every action of resp (market.Action.Validate, as of
// the answer), and that a distribution is below the close it is paid from:
// the close of the answer's last bar that ends by its ex-date, or else of
// its first bar. It returns the actions in effect as of the answer, each
// distribution with its Factor from that last bar when the answer holds
// one: the amount and the close in the same units, whatever splits come
// later. An action about to take effect (within the day Validate allows)
// is left out: the answer's bars are not adjusted for it yet, and a later
// answer reports it again.
func checkActions(resp source.Response) ([]market.Action, error) {
	out := make([]market.Action, 0, len(resp.Actions))
	for _, a := range resp.Actions {
		if err := a.Validate(resp.AsOf); err != nil {
			return nil, err
		}
		if a.Effective().After(resp.AsOf) {
			continue
		}
		if a.Kind != market.Split && len(resp.Bars) > 0 {
			ref, before := resp.Bars[0], false
			for _, b := range resp.Bars {
				if !b.Interval.Next(b.TS).After(a.Boundary(b.Interval)) {
					ref, before = b, true
				}
			}
			if !(a.Amount < ref.Close) {
				return nil, fmt.Errorf("%w: %s: amount %g is not below the close %g of %s", market.ErrInvalidAction, a, a.Amount, ref.Close, ref.TS.Format(time.DateOnly))
			}
			if before {
				a.Factor = 1 - a.Amount/ref.Close
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// Write upserts the bars of every job in one statement, records what
// changed in each job's series (a batch holds one task per series), stores
// the actions new to the table, and finds the series of the jobs' symbols
// that an action has not been applied to yet (see checksActions).
func (c Collect) Write(ctx context.Context, tx *store.Tx, jobs []*runner.Job[collecting]) error {
	var bars []market.Bar
	var actions []market.Action
	var symbols []string
	for _, j := range jobs {
		bars = append(bars, j.State.bars...)
		actions = append(actions, j.State.actions...)
		if checksActions(j) {
			symbols = append(symbols, j.Task.Symbol)
		}
	}
	res, err := tx.WriteBars(ctx, bars)
	if err != nil {
		return err
	}
	changes := make(map[market.Series]store.SeriesChange, len(res.Series))
	for _, sc := range res.Series {
		changes[sc.Series] = sc
	}
	if _, err := tx.RecordActions(ctx, actions); err != nil {
		return err
	}
	pending, err := tx.Unrestated(ctx, symbols)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		j.State.change, j.State.changed = changes[j.Series()]
		if j.Task.Repair {
			if err := c.recordHoles(ctx, tx, j); err != nil {
				return err
			}
		}
		j.State.restate = nil
		if checksActions(j) {
			for _, s := range pending {
				if s.Symbol == j.Task.Symbol {
					j.State.restate = append(j.State.restate, s)
				}
			}
		}
		j.Stored(len(j.State.bars), j.State.change.Rows)
	}
	return nil
}

// recordHoles records, for a repair task, the expected bars of its window
// that are still missing after its write as known holes: the source was
// asked for them and answered without them. An empty answer is no
// evidence (a repair's window holds stored bars around its gap: a source
// that returns none of them failed to answer), so it records none; nor
// without a History.
func (c Collect) recordHoles(ctx context.Context, tx *store.Tx, j *runner.Job[collecting]) error {
	j.State.holes = 0
	if c.History == nil || len(j.State.bars) == 0 {
		if c.History != nil {
			c.Logger.Warn().Str("series", j.Series().String()).Time("from", j.Task.From).Time("to", j.Task.To).
				Msg("repair: the source answered with no bars at all; no known holes recorded, the gap stays open")
		}
		return nil
	}
	found, err := tx.Audit(ctx, c.History, store.AuditQuery{Symbol: j.Task.Symbol, Interval: j.Task.Interval,
		From: j.Task.From, To: j.Task.To, Exact: true})
	if err != nil || len(found) == 0 {
		return err
	}
	j.State.holes, err = tx.RecordHoles(ctx, j.Series(), found[0].MissingBars, c.Source.Name())
	return err
}

// checksActions reports whether j's write looks for the series of its symbol
// that an action has not been applied to yet: when its answer carried
// actions, new or not, and on every redelivery, since a first delivery may
// have committed the actions and died before enqueueing its restate tasks
// (the redelivered task, narrowed to the newest bars, may not see them
// again). The look scans the symbol's bars: the other tasks skip it.
func checksActions(j *runner.Job[collecting]) bool {
	return len(j.State.actions) > 0 || j.Delivered > 1
}

// FollowUps reports a repair (Config.Repaired), and is the restate task of every series the write found
// unrestated, and the features task of a series whose stored bars changed,
// from the first changed bar on, all with the collect task's priority. A
// redelivered task asks for features even when its write changed nothing:
// an earlier delivery may have committed the bars and died before its
// follow-up was stored (the follow-up's message id makes a second one a
// duplicate). A task that changed nothing asks for no features.
func (c Collect) FollowUps(j *runner.Job[collecting]) []tasks.Task {
	if j.Task.Repair && c.Repaired != nil {
		c.Repaired(Repair{Series: j.Series(), Filled: j.State.change.Rows, Holes: j.State.holes})
	}
	var out []tasks.Task
	by, now := cmp.Or(c.RequestedBy, "worker"), time.Now()
	for _, s := range j.State.restate {
		out = append(out, NewRestateTask(s, newest(j), by, now))
	}
	if c.Features {
		var first, last time.Time
		switch {
		case j.State.changed:
			first, last = j.State.change.First, j.State.change.Last
		case j.Delivered > 1 && len(j.State.bars) > 0: // sources return bars oldest first
			first, last = j.State.bars[0].TS, j.State.bars[len(j.State.bars)-1].TS
		}
		if !first.IsZero() {
			out = append(out, NewFeaturesTask(j.Task.Symbol, j.Task.Interval, first, j.Task.Interval.Next(last), by, now))
		}
	}
	for i := range out {
		out[i].Priority = j.Task.Priority
	}
	return out
}

// newest is the latest ex-date of the job's actions, or without any (a
// redelivery that found series to restate) the day its window ends: what
// keys its restate tasks' message ids.
func newest(j *runner.Job[collecting]) time.Time {
	t := j.Task.To.Truncate(24 * time.Hour)
	if len(j.State.actions) > 0 {
		t = j.State.actions[0].ExDate
	}
	for _, a := range j.State.actions {
		if a.ExDate.After(t) {
			t = a.ExDate
		}
	}
	return t
}
