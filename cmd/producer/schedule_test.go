package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"marketfleet/calendar"
	"marketfleet/internal/testenv"
	"marketfleet/market"
	"marketfleet/queue"
	"marketfleet/schedule"
	"marketfleet/tasks"
)

// nyTime returns the instant New York clocks read s ("2006-01-02 15:04").
func nyTime(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func writeUniverse(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "universe.txt")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// simClock is a simulated clock for the schedule command: each wait
// advances it at once, until it would pass until; then it cancels the
// command's context, as SIGTERM does, and never fires.
type simClock struct {
	t, until time.Time
	stop     context.CancelFunc
}

func (c *simClock) now() time.Time { return c.t }

func (c *simClock) after(d time.Duration) <-chan time.Time {
	if !c.t.Add(d).Before(c.until) {
		c.stop()
		return nil
	}
	c.t = c.t.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

// runScheduleAt runs the schedule command with the clock at now and
// returns its exit status, stdout and stderr.
func runScheduleAt(t *testing.T, now time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	s := scheduler{now: func() time.Time { return now }, after: time.After}
	code = s.run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestScheduleTwoCopiesPublishEachWindowOnce(t *testing.T) {
	srv := testenv.NATS(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := srv.Connect(t)
	if _, _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	streamTasks(t, js)
	leaks := goleak.IgnoreCurrent()

	// Tuesday 16:30 New York: the 5m bar closed at 16:00 is within the
	// duplicate window, and the end-of-day run is due.
	now := nyTime(t, "2026-11-24 16:30")
	args := []string{"--market-hours", "--once", "--requested-by", "schedule-test",
		"--universe", writeUniverse(t, "AAPL 5m\nMSFT 5m\nSPY\nQQQ # daily\n")}
	var wg sync.WaitGroup
	var accepted, duplicates [2]int
	for i := range 2 {
		wg.Go(func() {
			code, out, errOut := runScheduleAt(t, now, args...)
			_, err := fmt.Sscanf(out, "scheduled 4 tasks (2 ticks): %d accepted, %d duplicates; next tick 2026-11-25T14:35:00Z\n",
				&accepted[i], &duplicates[i])
			if code != 0 || err != nil {
				t.Errorf("copy %d: exit %d, stdout %q (%v), stderr %q", i, code, out, err, errOut)
			}
		})
	}
	wg.Wait()
	if accepted[0]+accepted[1] != 4 || duplicates[0]+duplicates[1] != 4 {
		t.Fatalf("copies accepted %v and reported %v duplicates; want 4 and 4 in all", accepted, duplicates)
	}
	want := []string{
		"collect:AAPL:5m:2026-11-24T20:35:00Z/2026-11-24T21:00:00Z",
		"collect:MSFT:5m:2026-11-24T20:35:00Z/2026-11-24T21:00:00Z",
		"collect:QQQ:1d:2026-11-20T00:00:00Z/2026-11-25T00:00:00Z",
		"collect:SPY:1d:2026-11-20T00:00:00Z/2026-11-25T00:00:00Z",
	}
	ids, ts := streamTasks(t, js)
	slices.Sort(ids)
	if !slices.Equal(ids, want) {
		t.Fatalf("stream holds\n%s\nwant each window once:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	for _, task := range ts {
		if task.RequestedBy != "schedule-test" || !task.RequestedAt.Equal(now) && !task.RequestedAt.Equal(nyTime(t, "2026-11-24 16:00")) {
			t.Fatalf("task %+v: want requested by schedule-test at its tick", task)
		}
	}

	// A restart over the same tick publishes nothing new.
	code, out, errOut := runScheduleAt(t, now.Add(20*time.Second), args...)
	if code != 0 || out != "scheduled 4 tasks (2 ticks): 0 accepted, 4 duplicates; next tick 2026-11-25T14:35:00Z\n" {
		t.Fatalf("restart: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if ids, _ := streamTasks(t, js); len(ids) != 4 {
		t.Fatalf("after the restart the stream holds %d tasks, want 4", len(ids))
	}
	goleak.VerifyNone(t, leaks)
}

// TestScheduleRunsAcrossAnEarlyClose runs the long-lived command on a
// simulated clock from 12:42 to 17:00 New York on the day after
// Thanksgiving (close 13:00) until its context is cancelled.
func TestScheduleRunsAcrossAnEarlyClose(t *testing.T) {
	srv := testenv.NATS(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("FLEET_LOG_FORMAT", "json")
	_, js := srv.Connect(t)
	if _, _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	streamTasks(t, js)
	leaks := goleak.IgnoreCurrent()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clock := &simClock{t: nyTime(t, "2026-11-27 12:42"), until: nyTime(t, "2026-11-27 17:00"), stop: cancel}
	var out, errOut bytes.Buffer
	code := scheduler{now: clock.now, after: clock.after}.run(ctx,
		[]string{"--market-hours", "--universe", writeUniverse(t, "AAPL 5m\nMSFT\n")}, &out, &errOut)
	if code != 0 || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out.String(), errOut.String())
	}
	// At start the 12:40 bar close (within the duplicate window), then each
	// 5m close to 13:00 and none after; Wednesday's EOD run is more than the
	// duplicate window old, Friday's runs at 16:30.
	var want []string
	for _, to := range []string{"17:40", "17:45", "17:50", "17:55", "18:00"} {
		end, _ := time.Parse(time.RFC3339, "2026-11-27T"+to+":00Z")
		want = append(want, "collect:AAPL:5m:"+end.Add(-25*time.Minute).Format(time.RFC3339)+"/"+end.Format(time.RFC3339))
	}
	want = append(want, "collect:MSFT:1d:2026-11-23T00:00:00Z/2026-11-28T00:00:00Z")
	if ids, _ := streamTasks(t, js); !slices.Equal(ids, want) {
		t.Fatalf("stream holds\n%s\nwant\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	logs := errOut.String()
	if n := strings.Count(logs, `"message":"schedule tick"`); n != 6 || strings.Contains(logs, `"level":"error"`) {
		t.Fatalf("want 6 tick lines and no error, got %d in:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"accepted":1,"duplicates":0,"pending":0,"next":"2026-11-30T14:35:00Z"`) {
		t.Fatalf("no tick line announces Monday's first bar close:\n%s", logs)
	}
	goleak.VerifyNone(t, leaks)
}

// TestScheduleRetriesAFailedPublish fails the first publish half-way, as a
// NATS outage does: the tasks it did not confirm are published at the next
// wake-up, and each window is stored once.
func TestScheduleRetriesAFailedPublish(t *testing.T) {
	srv := testenv.NATS(t)
	_, js := srv.Connect(t)
	if _, _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	cal, err := calendar.NewNYSE()
	if err != nil {
		t.Fatal(err)
	}
	es := []market.UniverseEntry{{Symbol: "AAPL", Interval: market.Interval5m}, {Symbol: "MSFT", Interval: market.Interval5m}}
	p, err := schedule.New(schedule.Config{Entries: es, MarketHours: true, Calendar: cal})
	if err != nil {
		t.Fatal(err)
	}
	pub := queue.NewPublisher(js, "")
	injected := errors.New("injected: nats unreachable")
	var calls []int
	faulty := func(ctx context.Context, ts []tasks.Task) (queue.Result, error) {
		calls = append(calls, len(ts))
		if len(calls) == 1 {
			res, err := pub.Publish(ctx, ts[:1])
			return res, errors.Join(injected, err)
		}
		return pub.Publish(ctx, ts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &simClock{t: nyTime(t, "2026-11-24 10:02"), until: nyTime(t, "2026-11-24 10:06"), stop: cancel}
	var logs bytes.Buffer
	l := &tickLoop{planner: p, publish: faulty, log: zerolog.New(&logs), now: clock.now, after: clock.after, catchUp: time.Hour}
	if err := l.run(ctx); err != nil {
		t.Fatal(err)
	}
	// 10:02: the 10:00 tick, half published; 10:03: the other half;
	// 10:05: the 10:05 tick.
	if !slices.Equal(calls, []int{2, 1, 2}) {
		t.Fatalf("publish calls of %v tasks, want [2 1 2]", calls)
	}
	if !strings.Contains(logs.String(), `"level":"error","error":"injected: nats unreachable","ticks":1,"tasks":2,"retried":0,"accepted":1,"duplicates":0,"pending":1`) ||
		!strings.Contains(logs.String(), `"ticks":0,"tasks":0,"retried":1,"accepted":1,"duplicates":0,"pending":0`) {
		t.Fatalf("want the failure and the retry logged:\n%s", logs.String())
	}
	ids, _ := streamTasks(t, js)
	want := []string{
		"collect:AAPL:5m:2026-11-24T14:35:00Z/2026-11-24T15:00:00Z",
		"collect:MSFT:5m:2026-11-24T14:35:00Z/2026-11-24T15:00:00Z",
		"collect:AAPL:5m:2026-11-24T14:40:00Z/2026-11-24T15:05:00Z",
		"collect:MSFT:5m:2026-11-24T14:40:00Z/2026-11-24T15:05:00Z",
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("stream holds\n%s\nwant\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
}

// TestScheduleStopsLoudlyAtTheCalendarsEnd runs into the last covered
// session: its ticks are published, then the command fails naming the
// data file instead of sleeping forever.
func TestScheduleStopsLoudlyAtTheCalendarsEnd(t *testing.T) {
	srv := testenv.NATS(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clock := &simClock{t: nyTime(t, "2027-12-31 15:52"), until: nyTime(t, "2028-01-03 12:00"), stop: cancel}
	var out, errOut bytes.Buffer
	code := scheduler{now: clock.now, after: clock.after}.run(ctx,
		[]string{"--market-hours", "--interval", "5m", "--universe", writeUniverse(t, "AAPL\n")}, &out, &errOut)
	last := errOut.String()[strings.LastIndex(strings.TrimSuffix(errOut.String(), "\n"), "\n")+1:]
	if code != 1 || !strings.HasPrefix(last, "producer: schedule: 5m bars: next tick after 2027-12-31T21:00:00Z") ||
		!strings.Contains(last, "year 2028 is not in calendar/nyse_sessions.txt") {
		t.Fatalf("exit %d, last line %q; want 1 and the calendar's error", code, last)
	}
	if ids, _ := streamTasks(t, js); len(ids) != 3 || ids[2] != "collect:AAPL:5m:2027-12-31T20:35:00Z/2027-12-31T21:00:00Z" {
		t.Fatalf("stream holds %q; want the 15:50, 15:55 and 16:00 bar closes", ids)
	}

	// Started after the last covered session, --once fails the same way.
	code, outS, errS := runScheduleAt(t, nyTime(t, "2027-12-31 17:00"), "--market-hours", "--once", "--universe", writeUniverse(t, "AAPL 5m\n"))
	if code != 1 || outS != "" || !strings.Contains(errS, "producer: schedule: 5m bars: next tick after 2027-12-31T22:00:00Z") {
		t.Fatalf("--once: exit %d, stdout %q, stderr %q", code, outS, errS)
	}
}

func TestScheduleOverMaxSymbolsPublishesNothing(t *testing.T) {
	srv := testenv.NATS(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := srv.Connect(t)
	if _, _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runScheduleAt(t, nyTime(t, "2026-11-24 16:30"), "--max-symbols", "5", "--once",
		"--universe", writeUniverse(t, "A\nB\nC\nD\nE\nF 5m\n"))
	want := "producer: schedule: universe of 6 entries is more than --max-symbols 5: split it across schedulers or raise --max-symbols\n"
	if code != 2 || out != "" || errOut != want {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
	if ids, _ := streamTasks(t, js); len(ids) != 0 {
		t.Fatalf("refused schedule published %d tasks", len(ids))
	}
}

func TestScheduleRejectsInvalidRequestsOnOneLine(t *testing.T) {
	// Nothing listens here: a case that got as far as connecting would fail
	// with status 1 after the connect timeout, not 2.
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	u := writeUniverse(t, "AAPL\nMSFT 5m\n")
	bad := writeUniverse(t, "AAPL\nMSFT 7m\n")
	for _, tc := range []struct {
		name, args, want string
	}{
		{"unknown flag", "--bogus --universe " + u, "flag provided but not defined: -bogus"},
		{"bad number", "--lookback many --universe " + u, `invalid value "many" for flag -lookback`},
		{"no universe", "--market-hours", "no universe: give --universe FILE"},
		{"lookback zero", "--lookback 0 --universe " + u, "--lookback 0: want 1 to 100"},
		{"lookback too long", "--lookback 101 --universe " + u, "--lookback 101: want 1 to 100"},
		{"max symbols zero", "--max-symbols 0 --universe " + u, "--max-symbols 0: want at least 1"},
		{"too many symbols", "--max-symbols 1 --universe " + u, "universe of 2 entries is more than --max-symbols 1"},
		{"eod not a time", "--market-hours --eod 4pm --universe " + u, `--eod "4pm": want HH:MM`},
		{"eod before the close", "--market-hours --eod 15:30 --universe " + u, "--eod 15:30: want 16:00 to 23:59"},
		{"eod without market hours", "--eod 17:00 --universe " + u, "--eod needs --market-hours"},
		{"bad interval", "--interval 7m --universe " + u, `--interval: invalid interval "7m"`},
		{"bad universe line", "--universe " + bad, "line 2: invalid interval"},
		{"missing universe", "--universe /nonexistent/universe.txt", "--universe: open /nonexistent/universe.txt"},
		{"symbols and universe", "--universe " + u + " AAPL", "give symbols or --universe, not both"},
		{"requested-by too long", "--requested-by " + strings.Repeat("x", 200) + " --universe " + u, "requested_by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runScheduleAt(t, nyTime(t, "2026-11-24 10:00"), strings.Fields(tc.args)...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and no output", code, out, errOut)
			}
			if !strings.HasPrefix(errOut, "producer: schedule: ") || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("stderr %q: want one line starting with \"producer: schedule: \" saying %q", errOut, tc.want)
			}
		})
	}
}

func TestScheduleHelp(t *testing.T) {
	code, out, errOut := runProducer(t, "schedule", "--help")
	if code != 0 || errOut != "" || !strings.Contains(out, "Flags of schedule:") || !strings.Contains(out, "-market-hours") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
