package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"marketfleet/cmd/internal/cli"
	"marketfleet/internal/testenv"
	"marketfleet/queue"
	"marketfleet/tasks"
)

// runProducer runs the command as main does and returns its exit status,
// stdout and stderr.
func runProducer(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// streamTasks returns the tasks on the task stream, oldest first, with the
// message id each was published under.
func streamTasks(t *testing.T, js jetstream.JetStream) (ids []string, ts []tasks.Task) {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatalf("task stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		task, err := tasks.Decode(m.Data)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
		ts = append(ts, task)
	}
	return ids, ts
}

func TestBackfillPublishesEveryWindowOnceAndRepeatsAsDuplicates(t *testing.T) {
	srv := testenv.NATS(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := srv.Connect(t)
	// The stream's server goroutines and the test client's request
	// subscription exist before the command runs: only the command's own
	// goroutines are checked.
	if _, _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	streamTasks(t, js)
	leaks := goleak.IgnoreCurrent()

	args := []string{"backfill", "--from", "2024-01-01", "--to", "2024-01-11", "--window-bars", "4",
		"--requested-by", "backfill-test", "AAPL", "msft"}
	code, out, errOut := runProducer(t, args...)
	if code != 0 || out != "backfilled 8 tasks (4 windows x 2 symbols): 8 accepted, 0 duplicates\n" {
		t.Fatalf("first run: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Contains(errOut, "\r") || !strings.Contains(errOut, "producer: backfill 8/8 tasks (100%)") {
		t.Fatalf("stderr is not a terminal: want plain progress lines, got %q", errOut)
	}
	// The 4-day grid has a boundary at 2024-01-02; newest windows go first.
	var want []string
	for _, w := range []string{"01-10T00:00:00Z/2024-01-11", "01-06T00:00:00Z/2024-01-10", "01-02T00:00:00Z/2024-01-06", "01-01T00:00:00Z/2024-01-02"} {
		for _, sym := range []string{"AAPL", "MSFT"} {
			want = append(want, "collect:"+sym+":1d:2024-"+w+"T00:00:00Z")
		}
	}
	ids, ts := streamTasks(t, js)
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Fatalf("message ids on the stream:\n%s\nwant\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	for i, task := range ts {
		if task.MsgID() != ids[i] || task.RequestedBy != "backfill-test" {
			t.Fatalf("message %d: task %+v under id %s", i, task, ids[i])
		}
	}

	code, out, errOut = runProducer(t, args...)
	if code != 0 || out != "backfilled 8 tasks (4 windows x 2 symbols): 0 accepted, 8 duplicates (already published within FLEET_DEDUP_WINDOW; --force collects them again)\n" {
		t.Fatalf("second run: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if ids, _ := streamTasks(t, js); len(ids) != 8 {
		t.Fatalf("after the second run the stream holds %d tasks, want 8", len(ids))
	}
	goleak.VerifyNone(t, leaks)
}

func TestEnqueueStillWorksNextToBackfill(t *testing.T) {
	srv := testenv.NATS(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := srv.Connect(t)
	code, out, errOut := runProducer(t, "enqueue", "--from", "2024-01-01", "--to", "2024-02-01", "AAPL")
	if code != 0 || out != "enqueued 1 tasks: 1 accepted, 0 duplicates\n" {
		t.Fatalf("enqueue: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if ids, _ := streamTasks(t, js); len(ids) != 1 || ids[0] != "collect:AAPL:1d:2024-01-01T00:00:00Z/2024-02-01T00:00:00Z" {
		t.Fatalf("stream holds %q", ids)
	}
}

func TestBackfillOverMaxTasksPublishesNothing(t *testing.T) {
	srv := testenv.NATS(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := srv.Connect(t)
	if _, _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runProducer(t, "backfill", "--from", "2024-01-01", "--to", "2024-01-11",
		"--window-bars", "4", "--max-tasks", "7", "AAPL", "MSFT")
	wantErr := "producer: backfill: 8 tasks (4 windows x 2 symbols) is more than --max-tasks 7: shorten the range, raise --window-bars or --max-tasks\n"
	if code != 2 || out != "" || errOut != wantErr {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, wantErr)
	}
	if ids, _ := streamTasks(t, js); len(ids) != 0 {
		t.Fatalf("refused backfill published %d tasks", len(ids))
	}
}

func TestBackfillRejectsInvalidRequestsOnOneLine(t *testing.T) {
	// Nothing listens here: a case that got as far as connecting would fail
	// with status 1 after the test's timeout, not 2.
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	universe := filepath.Join(t.TempDir(), "universe.txt")
	if err := os.WriteFile(universe, []byte("AAPL\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args string
		want string
	}{
		{"unknown flag", "--bogus --range 1y AAPL", "flag provided but not defined: -bogus"},
		{"bad number", "--range 1y --window-bars many AAPL", `invalid value "many" for flag -window-bars`},
		{"no history", "AAPL", "give --from DATE or --range"},
		{"to without from", "--to 2024-01-01 AAPL", "give --from DATE or --range"},
		{"range and dates", "--range 10y --from 2020-01-01 AAPL", "give a range or from/to dates, not both"},
		{"bad range", "--range 10 AAPL", "range: \"10\""},
		{"bad date", "--from 2024-13-01 AAPL", "from: \"2024-13-01\""},
		{"from after to", "--from 2024-02-01 --to 2024-01-01 AAPL", "empty range"},
		{"before 1900", "--from 1850-01-01 --to 1900-02-01 AAPL", "outside 1900-2200"},
		{"zero window bars", "--range 1y --window-bars -1 AAPL", "--window-bars -1: want 1 to 49999"},
		{"window bars over the cap", "--range 1y --window-bars 50000 AAPL", "--window-bars 50000: want 1 to 49999"},
		{"zero max tasks", "--range 1y --max-tasks 0 AAPL", "--max-tasks 0: want at least 1"},
		{"bad interval", "--range 1y --interval 7m AAPL", "--interval: invalid interval \"7m\""},
		{"no symbols", "--range 1y", "no symbols"},
		{"bad symbol", "--range 1y AA!PL", "invalid symbol"},
		{"flag after symbols", "--range 1y AAPL --window-bars 5", "flag --window-bars after the symbols"},
		{"symbols and universe", "--range 1y --universe " + universe + " AAPL", "give symbols or --universe, not both"},
		{"missing universe", "--range 1y --universe /nonexistent/universe.txt", "--universe: open /nonexistent/universe.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runProducer(t, append([]string{"backfill"}, strings.Fields(tc.args)...)...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and no output", code, out, errOut)
			}
			if !strings.HasPrefix(errOut, "producer: ") || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
				t.Fatalf("stderr %q: want one line starting with \"producer: \"", errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Fatalf("stderr %q: want it to say %q", errOut, tc.want)
			}
		})
	}
}

func TestBackfillHelp(t *testing.T) {
	code, out, errOut := runProducer(t, "backfill", "--help")
	if code != 0 || errOut != "" || !strings.Contains(out, "Flags of backfill:") || !strings.Contains(out, "-window-bars") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestPublishChunksStopsAfterTheChunkInFlight cancels the context, as the
// first SIGINT does, while the second chunk is being published: that chunk
// must still be published in full, and nothing after it.
func TestPublishChunksStopsAfterTheChunkInFlight(t *testing.T) {
	srv := testenv.NATS(t)
	_, js := srv.Connect(t)
	if _, _, err := queue.EnsureStream(context.Background(), js, queue.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	o := &backfillOpts{interval: "1d", from: "2024-01-01", to: "2024-02-01", windowBars: 1, maxTasks: 100, requestedBy: "test"}
	p, err := planBackfill(o, []string{"AAPL"}, time.Now())
	if err != nil || len(p.tasks) != 31 {
		t.Fatalf("plan: %d tasks, %v; want 31", len(p.tasks), err)
	}
	pub := queue.NewPublisher(js, queue.DefaultStream)
	ctx, signal := context.WithCancel(context.Background())
	defer signal()
	calls := 0
	interrupting := func(ctx context.Context, ts []tasks.Task) (queue.Result, error) {
		if calls++; calls == 2 {
			signal()
		}
		return pub.Publish(ctx, ts)
	}
	var errOut bytes.Buffer
	res, done, err := publishChunks(ctx, p.tasks, 4, interrupting, cli.NewProgress(&errOut, "producer: backfill", "tasks", len(p.tasks), time.Now))
	if !errors.Is(err, context.Canceled) || done != 8 || res.Accepted != 8 || calls != 2 {
		t.Fatalf("publishChunks = %+v, %d done, %v after %d chunks; want 8 accepted and context.Canceled after 2", res, done, err, calls)
	}
	if ids, _ := streamTasks(t, js); len(ids) != 8 {
		t.Fatalf("stream holds %d tasks, want the 8 of the first two chunks", len(ids))
	}
}

func TestPlanBackfill(t *testing.T) {
	now := time.Date(2024, 3, 15, 14, 7, 30, 0, time.UTC)
	universe := filepath.Join(t.TempDir(), "universe.txt")
	if err := os.WriteFile(universe, []byte("AAPL\nMSFT 1wk # weekly\nSPY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		o         backfillOpts
		args      []string
		shape     string
		newest    string // message id of the first task
		oldest    string // message id of the last task
		warnings  int
		wantTasks int
	}{
		{
			// 1000-day grid: boundaries at day 17000 (2016-07-18), 18000 and
			// 19000 (2022-01-08) since the epoch.
			name: "10y daily, default 1000-bar windows", o: backfillOpts{interval: "1d", rng: "10y"}, args: []string{"AAPL"},
			shape: "4 windows x 1 symbols", wantTasks: 4,
			newest: "collect:AAPL:1d:2022-01-08T00:00:00Z/2024-03-16T00:00:00Z",
			oldest: "collect:AAPL:1d:2014-03-16T00:00:00Z/2016-07-18T00:00:00Z",
		},
		{
			name: "universe with two intervals", o: backfillOpts{interval: "1d", rng: "10y", universe: universe},
			shape: "1d: 4 windows x 2 symbols, 1wk: 1 windows x 1 symbols", wantTasks: 9,
			newest: "collect:AAPL:1d:2022-01-08T00:00:00Z/2024-03-16T00:00:00Z",
			oldest: "collect:MSFT:1wk:2014-03-17T00:00:00Z/2024-03-18T00:00:00Z",
		},
		{
			// 7 days of minutes from the epoch: windows start on Thursdays.
			name: "1m, default 7-day windows, beyond Yahoo's 30 days", o: backfillOpts{interval: "1m", rng: "5wk"}, args: []string{"AAPL"},
			shape: "6 windows x 1 symbols", wantTasks: 6, warnings: 1,
			newest: "collect:AAPL:1m:2024-03-14T00:00:00Z/2024-03-15T14:08:00Z",
			oldest: "collect:AAPL:1m:2024-02-09T14:08:00Z/2024-02-15T00:00:00Z",
		},
		{
			// 30 days of 5m bars from the epoch: a boundary at day 19770.
			name: "5m within Yahoo's 60 days", o: backfillOpts{interval: "5m", rng: "30d"}, args: []string{"AAPL"},
			shape: "2 windows x 1 symbols", wantTasks: 2,
			newest: "collect:AAPL:5m:2024-02-17T00:00:00Z/2024-03-15T14:10:00Z",
			oldest: "collect:AAPL:5m:2024-02-14T14:10:00Z/2024-02-17T00:00:00Z",
		},
		{
			name: "explicit window bars on monthly", o: backfillOpts{interval: "1mo", from: "2020-03-10", to: "2022-01-01", windowBars: 12}, args: []string{"AAPL"},
			shape: "2 windows x 1 symbols", wantTasks: 2,
			newest: "collect:AAPL:1mo:2021-01-01T00:00:00Z/2022-01-01T00:00:00Z",
			oldest: "collect:AAPL:1mo:2020-03-01T00:00:00Z/2021-01-01T00:00:00Z",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.maxTasks, tc.o.requestedBy = defaultMaxTasks, "test"
			p, err := planBackfill(&tc.o, tc.args, now)
			if err != nil {
				t.Fatal(err)
			}
			if p.shape() != tc.shape || len(p.tasks) != tc.wantTasks {
				t.Fatalf("plan is %d tasks (%s), want %d (%s)", len(p.tasks), p.shape(), tc.wantTasks, tc.shape)
			}
			if first, last := p.tasks[0].MsgID(), p.tasks[len(p.tasks)-1].MsgID(); first != tc.newest || last != tc.oldest {
				t.Fatalf("tasks run from %s to %s, want %s to %s", first, last, tc.newest, tc.oldest)
			}
			if ws := p.historyWarnings(now); len(ws) != tc.warnings {
				t.Fatalf("warnings %q, want %d", ws, tc.warnings)
			}
		})
	}
}
