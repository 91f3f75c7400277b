package monitoring_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Paths from the repository root.
const (
	rulesPath     = "deploy/prometheus/alerts.yml"
	rulesTestPath = "deploy/prometheus/alerts_test.yml"
	configPath    = "deploy/prometheus/prometheus.yml"
	dashboardPath = "deploy/grafana/dashboards/marketfleet.json"
	operationsDoc = "docs/OPERATIONS.md"
)

// repoRoot returns the repository root: the test runs in deploy/monitoring.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// readRepoFile returns a file of the repository by its path from the root.
func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// promtoolPath returns $PROMTOOL, else promtool on PATH, else fails the test
// with the way to install it.
func promtoolPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("PROMTOOL=%s: %v", p, err)
		}
		return p
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run scripts/promtool.sh (it installs Debian's prometheus package, " +
			"which ships promtool) or set PROMTOOL=/path/to/promtool")
	}
	return p
}

// promtool runs promtool with args in dir and returns its combined output
// and its error (an *exec.ExitError when it ran and failed).
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtoolPath(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("promtool %s: %v", strings.Join(args, " "), err)
	}
	return string(out), err
}

var rulesFound = regexp.MustCompile(`SUCCESS: (\d+) rules found`)

// promtoolRuleCount runs `promtool check rules` on path and returns the
// number of rules it found; any error or lint warning fails the test.
func promtoolRuleCount(t *testing.T, dir, path string) int {
	t.Helper()
	out, err := promtool(t, dir, "check", "rules", "--lint=all", "--lint-fatal", path)
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", path, err, out)
	}
	m := rulesFound.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("promtool check rules %s: no rule count in its output:\n%s", path, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestPromtoolCheckRules(t *testing.T) {
	root := repoRoot(t)
	n := promtoolRuleCount(t, root, rulesPath)
	rules, err := parseRules(readRepoFile(t, rulesPath))
	if err != nil {
		t.Fatal(err)
	}
	// The line-based parser the other checks rely on must see every rule.
	if len(rules) != n {
		t.Errorf("promtool found %d rules in %s, parseRules %d", n, rulesPath, len(rules))
	}
	if n == 0 {
		t.Errorf("%s has no rules", rulesPath)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	out, err := promtool(t, repoRoot(t), "test", "rules", rulesTestPath)
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", rulesTestPath, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules %s: no SUCCESS in its output:\n%s", rulesTestPath, out)
	}
}

func TestPromtoolCheckConfig(t *testing.T) {
	out, err := promtool(t, repoRoot(t), "check", "config", configPath)
	if err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", configPath, err, out)
	}
	if !strings.Contains(out, "1 rule files found") {
		t.Errorf("%s should load exactly alerts.yml; promtool says:\n%s", configPath, out)
	}
}

// The promtool wrapper reports failures: a broken copy of the rules fails
// both the check and the unit tests.
func TestPromtoolFailsOnBrokenRules(t *testing.T) {
	dir := t.TempDir()
	rules := readRepoFile(t, rulesPath)
	broken := strings.Replace(rules, "> 0.8", "> > 0.8", 1)
	if broken == rules {
		t.Fatal("the mutation did not apply: update this test")
	}
	write(t, filepath.Join(dir, "alerts.yml"), broken)
	if out, err := promtool(t, dir, "check", "rules", "alerts.yml"); err == nil {
		t.Errorf("promtool check rules accepted a syntax error:\n%s", out)
	}

	// A threshold moved: the unit tests must notice.
	moved := strings.Replace(rules, "> 0.8", "> 0.9", 1)
	write(t, filepath.Join(dir, "alerts.yml"), moved)
	write(t, filepath.Join(dir, "alerts_test.yml"), readRepoFile(t, rulesTestPath))
	out, err := promtool(t, dir, "test", "rules", "alerts_test.yml")
	if err == nil || !strings.Contains(out, "MarketfleetPostgresSessionsHigh") {
		t.Errorf("promtool test rules passed with the sessions threshold at 90%%:\n%s", out)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The rules are tested with the promtool found here (Debian's prometheus
// package); deploy/compose.yaml must run the same Prometheus version, so
// that what is tested is what runs.
func TestComposeRunsThePrometheusTheRulesAreTestedWith(t *testing.T) {
	root := repoRoot(t)
	out, err := promtool(t, root, "--version")
	if err != nil {
		t.Fatalf("promtool --version: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`version (\d+\.\d+\.\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no version in promtool --version:\n%s", out)
	}
	compose := readRepoFile(t, "deploy/compose.yaml")
	img := regexp.MustCompile(`(?m)^\s*image:\s*prom/prometheus:v(\S+)`).FindStringSubmatch(compose)
	if img == nil {
		t.Fatal("deploy/compose.yaml runs no prom/prometheus image")
	}
	if img[1] != m[1] {
		t.Errorf("deploy/compose.yaml runs Prometheus %s, the rules are tested with promtool %s: pin prom/prometheus:v%s", img[1], m[1], m[1])
	}
}
