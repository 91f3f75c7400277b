package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"marketfleet/queue"
)

// fsyncCount is the fsyncs (fsync and fdatasync calls) the nats-server
// made during one phase of a durable run, per task, by the file synced.
type fsyncCount struct {
	Of      string             `json:"of"`    // the design or the ceiling
	Phase   string             `json:"phase"` // publish, consume
	Tasks   int                `json:"tasks"`
	Total   int                `json:"fsyncs"`
	PerTask float64            `json:"fsyncs_per_task"`
	ByFile  map[string]float64 `json:"fsyncs_per_task_by_file"` // what was synced: the stream's messages, a consumer's state, a KV bucket
}

// fsyncCall is one call in strace -y's log, with the file it synced (a
// call interrupted by another thread's line is logged as unfinished, then
// resumed: it is counted once, by its first line).
var fsyncCall = regexp.MustCompile(`(?:fsync|fdatasync)\(\d+<([^>]*)>`)

// fsyncLog reads the nats-server's strace log from line `from` on: the
// number of lines now, and the fsyncs since by the file synced.
func (e *env) fsyncLog(from int) (int, map[string]int, error) {
	f, err := os.Open(e.natsFsyncs)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	by := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if n <= from {
			continue
		}
		if m := fsyncCall.FindStringSubmatch(sc.Text()); m != nil {
			by[fsyncTarget(filepath.Join(e.dir, "nats"), m[1])]++
		}
	}
	return n, by, sc.Err()
}

// fsyncTarget names what a synced file holds: "<stream> messages" (the
// message blocks: messages and tombstones), "<stream> consumer state",
// "<stream> atomic batches (staging)", or the path under the store.
func fsyncTarget(store, path string) string {
	rel := strings.TrimPrefix(path, store+string(filepath.Separator))
	parts := strings.Split(rel, string(filepath.Separator))
	// jetstream/<account>/streams/<stream>/{msgs,obs/<consumer>}/...
	if len(parts) >= 5 && parts[0] == "jetstream" && parts[2] == "streams" {
		switch parts[4] {
		case "msgs":
			if len(parts) == 6 && strings.HasSuffix(parts[5], ".blk") {
				return parts[3] + " messages" // the message blocks: stored messages, tombstones
			}
			return parts[3] + " " + strings.Join(parts[4:], "/") // the index
		case "obs":
			return parts[3] + " consumer state"
		case "batches":
			return parts[3] + " atomic batches (staging)"
		}
		return parts[3] + " " + strings.Join(parts[4:], "/")
	}
	if len(parts) == 4 && parts[0] == "jetstream" && parts[2] == "streams" {
		return parts[3] + " (the stream's directory)"
	}
	return rel
}

// phaseCount counts the fsyncs of one phase: run it, then read the log
// (strace writes a line as each call returns). A consume phase includes
// the workers' start (consumer and KV updates), spread over its tasks.
func (e *env) phaseCount(of, phase string, tasks int, run func() error) (fsyncCount, error) {
	mark, _, err := e.fsyncLog(1 << 62)
	if err != nil {
		return fsyncCount{}, err
	}
	if err := run(); err != nil {
		return fsyncCount{}, fmt.Errorf("%s, %s: %w", of, phase, err)
	}
	_, by, err := e.fsyncLog(mark)
	if err != nil {
		return fsyncCount{}, err
	}
	c := fsyncCount{Of: of, Phase: phase, Tasks: tasks, ByFile: map[string]float64{}}
	for k, v := range by {
		c.Total += v
		c.ByFile[k] = float64(v) / float64(tasks)
	}
	c.PerTask = float64(c.Total) / float64(tasks)
	return c, nil
}

// countFsyncs runs, on a nats-server with sync_interval: always under
// strace, the JetStream ceiling and then one marketfleet run of n one-bar
// tasks at K, each in two phases (the tasks published with no consumer
// running, then consumed and acknowledged), and counts the fsyncs of each
// phase per task. The server is restarted without strace afterwards.
func (e *env) countFsyncs(ctx context.Context, o options, batch int, seq *int) ([]fsyncCount, error) {
	if _, err := exec.LookPath("strace"); err != nil {
		return nil, fmt.Errorf("counting fsyncs needs strace (make bench installs it): %w", err)
	}
	log := filepath.Join(e.dir, "nats-fsyncs.log")
	if err := e.restartNATS(ctx, true, log); err != nil {
		return nil, err
	}
	defer func() { _ = e.restartNATS(context.WithoutCancel(ctx), true, "") }()
	var out []fsyncCount
	n := o.durableN
	// The ceiling: the bench's own stream and consumer, publish then consume.
	js := e.js
	if err := ceilCreateStream(ctx, js, batch*o.k); err != nil {
		return nil, err
	}
	c, err := e.phaseCount("JetStream ceiling", "publish", n, func() error { return ceilPublish(ctx, js, n) })
	if err != nil {
		return nil, err
	}
	out = append(out, c)
	if c, err = e.phaseCount("JetStream ceiling", "fetch+ack", n, func() error {
		_, err := ceilConsume(ctx, e.natsURL, n, batch, o.k, ackFlushed)
		return err
	}); err != nil {
		return nil, err
	}
	out = append(out, c)
	_ = js.DeleteStream(ctx, ceilStream)
	// marketfleet: the producer, then the workers.
	*seq++
	cfg := runConfig{design: designMarketfleet, k: o.k, n: n, bars: 1, env: o.workerEnv}
	if err := e.resetNATS(ctx); err != nil {
		return nil, err
	}
	if _, _, err := queue.EnsureStream(ctx, e.js, e.streamConfig()); err != nil {
		return nil, err
	}
	// The workers' consumer exists before the tasks arrive, as in
	// production (and as the ceiling's does).
	if _, err := queue.EnsureConsumer(ctx, e.js, queue.DefaultStream, queue.ConsumerConfig{}); err != nil {
		return nil, err
	}
	dbURL, drop, err := e.freshDatabase(ctx, fmt.Sprintf("bench_fsyncs_%d", *seq))
	if err != nil {
		return nil, err
	}
	defer drop()
	if c, err = e.phaseCount(designMarketfleet, "publish", n, func() error { _, err := e.enqueue(ctx, cfg); return err }); err != nil {
		return nil, err
	}
	out = append(out, c)
	var procs []*proc
	defer func() {
		for _, p := range procs {
			_ = p.stop()
		}
	}()
	if c, err = e.phaseCount(designMarketfleet, "consume+ack", n, func() error {
		var err error
		if procs, err = e.startDesign(cfg, dbURL, *seq); err != nil {
			return err
		}
		return e.waitDrained(ctx, 10*time.Minute)
	}); err != nil {
		return nil, err
	}
	out = append(out, c)
	return out, nil
}

// fsyncTable writes the counts as a Markdown table.
func fsyncTable(w *strings.Builder, cs []fsyncCount) {
	fmt.Fprintln(w, "| of | phase | tasks | fsyncs | per task | by file (per task) |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, c := range cs {
		keys := make([]string, 0, len(c.ByFile))
		for k := range c.ByFile {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return c.ByFile[keys[i]] > c.ByFile[keys[j]] })
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %.3f", k, c.ByFile[k]))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %.2f | %s |\n", c.Of, c.Phase, c.Tasks, c.Total, c.PerTask, strings.Join(parts, ", "))
	}
}
