//go:build compose

package composetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"marketfleet/internal/testenv"
)

// skipped are the services of deploy/compose.yaml this test does not start,
// and why.
var skipped = map[string]string{
	"grafana":       "Grafana cannot be installed here (AGPL, not packaged by Debian, no registry): its dashboard is tested by deploy/monitoring",
	"nats-exporter": "prometheus-nats-exporter has no image here (no registry) and is not packaged by Debian",
}

// started are the services it starts: everything else.
var started = []string{"nats", "postgres", "migrate", "grants", "worker", "producer", "prometheus"}

// TestComposeRunsTheFleet brings deploy/compose.yaml up for real: NATS with
// auth, PostgreSQL with the least-privileged roles, the migrate and grants
// one-shots, 3 workers, the scheduler and Prometheus. It publishes 200
// tasks, waits for their bars, checks from the PostgreSQL container that
// the fleet held exactly 3 sessions, that Prometheus scrapes every worker
// and loaded every alert rule, then scales the workers to 5 under a budget
// of 4 and checks the sessions never exceed 4, and takes it all down with
// its volumes.
func TestComposeRunsTheFleet(t *testing.T) {
	start := time.Now()
	c := newCompose(t)
	for name, why := range skipped {
		fmt.Printf("compose-test: skipping %s: %s\n", name, why)
	}
	c.run(t, 10*time.Minute, append([]string{"up", "-d", "--no-build"}, started...)...)
	t.Logf("up in %s", time.Since(start).Round(time.Second))

	sessions := c.sampleSessions(t)
	testenv.Poll(t, 2*time.Minute, 500*time.Millisecond, "3 worker sessions", func() bool { return sessions.now() == 3 })

	symbols := make([]string, 200)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("CT%03d", i+1)
	}
	out := c.run(t, 2*time.Minute, append([]string{"run", "--rm", "--no-deps", "-T", "--entrypoint", "/usr/local/bin/producer",
		"producer", "enqueue"}, symbols...)...)
	if !strings.Contains(out, "enqueued 200 tasks: 200 accepted") {
		t.Fatalf("producer enqueue: %s", out)
	}
	testenv.Poll(t, 3*time.Minute, 500*time.Millisecond, "the bars of 200 symbols", func() bool {
		return c.sql(t, `SELECT count(DISTINCT symbol) FROM bars WHERE symbol LIKE 'CT%'`) == "200"
	})
	if peak := sessions.reset(); peak != 3 {
		t.Errorf("peak worker sessions %d while 3 workers ran, want 3", peak)
	}

	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\w+)`).FindAllStringSubmatch(readFile(t, "deploy/prometheus/alerts.yml"), -1)
	testenv.Poll(t, 2*time.Minute, 500*time.Millisecond, "Prometheus to scrape 3 workers and load every rule", func() bool {
		up, rules := c.prometheus(t)
		for _, a := range alerts {
			if !rules[a[1]] {
				return false
			}
		}
		return up == 3
	})

	c.run(t, 2*time.Minute, "up", "-d", "--no-build", "--no-deps", "--scale", "worker=5", "worker")
	testenv.Poll(t, 2*time.Minute, 500*time.Millisecond, "a fifth worker waiting for a connection slot", func() bool {
		return strings.Contains(c.run(t, time.Minute, "logs", "--no-color", "worker"), "waiting for a connection slot")
	})
	testenv.Poll(t, time.Minute, 500*time.Millisecond, "4 worker sessions", func() bool { return sessions.now() == 4 })
	deadline := time.Now().Add(15 * time.Second) // watch the budget hold for a while
	testenv.Poll(t, time.Minute, 500*time.Millisecond, "15 s of five workers", func() bool { return time.Now().After(deadline) })
	if peak := sessions.reset(); peak != 4 {
		t.Errorf("peak worker sessions %d with 5 workers under a budget of 4, want 4", peak)
	}
	t.Logf("compose-test took %s", time.Since(start).Round(time.Second))
}

// compose runs docker-compose on deploy/compose.yaml as its own project,
// with generated secrets and free ports.
type compose struct {
	bin, docker, project, envFile, root string
	promPort                            int
}

func newCompose(t *testing.T) *compose {
	t.Helper()
	c := &compose{bin: os.Getenv("COMPOSE"), docker: os.Getenv("DOCKER"), project: fmt.Sprintf("mfcomposetest%d", os.Getpid())}
	if c.bin == "" || c.docker == "" {
		t.Fatal("COMPOSE and DOCKER must name docker-compose and docker: run make compose-test")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c.root, c.promPort = root, testenv.FreePort(t)
	env := []string{"MARKETFLEET_BUDGET=4",
		"MARKETFLEET_NATS_PORT=" + strconv.Itoa(testenv.FreePort(t)),
		"MARKETFLEET_PROMETHEUS_PORT=" + strconv.Itoa(c.promPort),
		"MARKETFLEET_GRAFANA_PORT=" + strconv.Itoa(testenv.FreePort(t))}
	for i, k := range []string{"MARKETFLEET_DB_SUPERUSER_PASSWORD", "MARKETFLEET_DB_WORKER_PASSWORD", "MARKETFLEET_DB_MIGRATE_PASSWORD",
		"MARKETFLEET_NATS_PRODUCER_PASSWORD", "MARKETFLEET_NATS_WORKER_PASSWORD", "MARKETFLEET_NATS_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} {
		env = append(env, fmt.Sprintf("%s=compose-test-%d-%d", k, i, time.Now().UnixNano()))
	}
	c.envFile = filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(c.envFile, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.exec(2*time.Minute, "logs", "--no-color", "--tail", "40")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := c.exec(5*time.Minute, "down", "-v", "--remove-orphans"); err != nil {
			t.Errorf("down -v: %v\n%s", err, out)
		}
		left, _ := exec.Command(c.docker, "ps", "-aq", "--filter", "label=com.docker.compose.project="+c.project).Output()
		vols, _ := exec.Command(c.docker, "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+c.project).Output()
		if len(bytes.TrimSpace(left)) > 0 || len(bytes.TrimSpace(vols)) > 0 {
			t.Errorf("after down -v: containers %q, volumes %q left", left, vols)
		}
	})
	return c
}

func (c *compose) args(args ...string) []string {
	return append([]string{"-p", c.project, "-f", filepath.Join(c.root, "deploy/compose.yaml"), "--env-file", c.envFile}, args...)
}

// exec runs docker-compose with args and returns its combined output.
func (c *compose) exec(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.bin, c.args(args...)...).CombinedOutput()
	return string(out), err
}

func (c *compose) run(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	out, err := c.exec(timeout, args...)
	if err != nil {
		t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// sql runs one query in the PostgreSQL container as the superuser.
func (c *compose) sql(t *testing.T, query string) string {
	t.Helper()
	return strings.TrimSpace(c.run(t, time.Minute, "exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "marketfleet", "-Atc", query))
}

// sessions is the number of worker sessions, sampled in the PostgreSQL
// container every 100 ms.
type sessions struct {
	mu        sync.Mutex
	last, max int
}

func (s *sessions) now() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// reset returns the peak since the last reset.
func (s *sessions) reset() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.max
	s.max = s.last
	return m
}

func (c *compose) sampleSessions(t *testing.T) *sessions {
	t.Helper()
	s := &sessions{}
	ctx, cancel := context.WithCancel(context.Background())
	loop := `while :; do psql -U postgres -d marketfleet -Atc "SELECT count(*) FROM pg_stat_activity WHERE usename = 'marketfleet_worker'" || exit 1; sleep 0.1; done`
	cmd := exec.CommandContext(ctx, c.bin, c.args("exec", "-T", "postgres", "bash", "-c", loop)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				s.mu.Lock()
				s.last, s.max = n, max(s.max, n)
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); <-done })
	return s
}

// prometheus returns how many worker targets are up and which rules are
// loaded.
func (c *compose) prometheus(t *testing.T) (up int, rules map[string]bool) {
	t.Helper()
	base := fmt.Sprintf("http://127.0.0.1:%d/api/v1/", c.promPort)
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				Labels map[string]string `json:"labels"`
				Health string            `json:"health"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	var loaded struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name string `json:"name"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	rules = map[string]bool{}
	if getJSON(base+"targets", &targets) != nil || getJSON(base+"rules", &loaded) != nil {
		return 0, rules
	}
	for _, tg := range targets.Data.ActiveTargets {
		if tg.Labels["job"] == "marketfleet-worker" && tg.Health == "up" {
			up++
		}
	}
	for _, g := range loaded.Data.Groups {
		for _, r := range g.Rules {
			rules[r.Name] = true
		}
	}
	return up, rules
}

func getJSON(url string, v any) error {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
