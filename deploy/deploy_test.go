package deploy_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"marketfleet/queue"
)

// The worker's defaults the files must agree with (FLEET_SHUTDOWN_GRACE and
// FLEET_FETCH_WAIT, unless a file sets them).
const (
	defaultShutdownGrace = 25 * time.Second
	defaultFetchWait     = time.Second
)

// yamlDocs parses every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
}

// get walks a parsed YAML value along keys (map keys or list indexes).
func get(v any, keys ...string) any {
	for _, k := range keys {
		switch m := v.(type) {
		case map[string]any:
			v = m[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(m) {
				return nil
			}
			v = m[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case int:
		return strconv.Itoa(s)
	}
	return ""
}

func num(t *testing.T, what string, v any) int {
	t.Helper()
	switch n := v.(type) {
	case int:
		return n
	case string:
		if i, err := strconv.Atoi(n); err == nil {
			return i
		}
	}
	t.Fatalf("%s: %v is not a number", what, v)
	return 0
}

// pinned reports whether an image reference names a version, not latest.
func pinned(image string) bool {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "" && tag != "latest"
}

// drain is how long a worker may need after SIGTERM per its environment.
func drain(t *testing.T, env map[string]string) time.Duration {
	t.Helper()
	d := func(name string, def time.Duration) time.Duration {
		if v, ok := env[name]; ok {
			p, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s=%q: %v", name, v, err)
			}
			return p
		}
		return def
	}
	return d("FLEET_SHUTDOWN_GRACE", defaultShutdownGrace) + d("FLEET_FETCH_WAIT", defaultFetchWait)
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	toolchain := regexp.MustCompile(`(?m)^export GOTOOLCHAIN := go(\S+)`).FindSubmatch(makefile)
	if toolchain == nil {
		t.Fatal("the Makefile pins no GOTOOLCHAIN")
	}
	var stage string
	users := map[string]string{}
	bases := map[string]string{}
	var order []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			if !pinned(f[1]) {
				t.Errorf("FROM %s: pin a version", f[1])
			}
			stage = f[len(f)-1]
			bases[stage], order = f[1], append(order, stage)
		case "USER":
			users[stage] = f[1]
		}
	}
	if !strings.Contains(string(b), "golang:"+string(toolchain[1])) {
		t.Errorf("the build stage does not use the Makefile's toolchain go%s", toolchain[1])
	}
	// make image builds a stand-in for every base image where no registry
	// answers: scripts/base-images.sh must know each one.
	script, err := os.ReadFile("../scripts/base-images.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range order {
		base := strings.Replace(bases[stage], "golang:"+string(toolchain[1]), "golang:$GO_VERSION", 1)
		if _, isStage := bases[base]; !isStage && !regexp.MustCompile(`(?m)^ensure "?`+regexp.QuoteMeta(base)+`"? `).Match(script) {
			t.Errorf("FROM %s: scripts/base-images.sh has no stand-in for it (make image fails offline)", bases[stage])
		}
	}
	if !strings.Contains(string(b), "CGO_ENABLED=0") {
		t.Error("binaries must be static: CGO_ENABLED=0")
	}
	for _, s := range []string{"nats", "marketfleet"} {
		if !strings.Contains(bases[s], "distroless/static") && bases[s] != "scratch" {
			t.Errorf("stage %s runs on %q, want distroless static or scratch", s, bases[s])
		}
		if u := users[s]; u == "" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0") {
			t.Errorf("stage %s runs as %q, want a non-root user", s, u)
		}
	}
	if order[len(order)-1] != "marketfleet" {
		t.Errorf("the default (last) stage is %s, want marketfleet", order[len(order)-1])
	}
}

func TestCompose(t *testing.T) {
	doc := yamlDocs(t, "compose.yaml")[0]
	// The budget is "${MARKETFLEET_BUDGET:-N}": N is the default.
	bm := regexp.MustCompile(`^\$\{MARKETFLEET_BUDGET:-(\d+)\}$`).FindStringSubmatch(str(doc["x-budget"]))
	if bm == nil {
		t.Fatalf("x-budget %q, want ${MARKETFLEET_BUDGET:-N}", doc["x-budget"])
	}
	budget, _ := strconv.Atoi(bm[1])
	services, _ := doc["services"].(map[string]any)
	for _, s := range []string{"nats", "postgres", "producer", "worker", "prometheus", "nats-exporter", "grafana"} {
		if services[s] == nil {
			t.Errorf("compose.yaml has no %s service", s)
		}
	}
	for name, s := range services {
		image := str(get(s, "image"))
		if !pinned(image) {
			t.Errorf("service %s: image %q, want a pinned version", name, image)
		}
		for _, v := range asList(get(s, "volumes")) {
			src := strings.Split(str(v), ":")[0]
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
		// No literal secret: every password comes from the environment.
		for k, v := range asMap(get(s, "environment")) {
			if strings.Contains(strings.ToUpper(k), "PASSWORD") && !strings.HasPrefix(str(v), "${") {
				t.Errorf("service %s: %s is a literal, want ${...} from deploy/compose/.env", name, k)
			}
		}
	}
	// make compose-test runs every service but these two (their images
	// cannot be had here; deploy/composetest says why): the others' images
	// are ours or have a stand-in in scripts/base-images.sh.
	script, err := os.ReadFile("../scripts/base-images.sh")
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range services {
		image := str(get(svc, "image"))
		if name == "grafana" || name == "nats-exporter" || strings.HasPrefix(image, "marketfleet") {
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*ensure "?` + regexp.QuoteMeta(image) + `"? `).Match(script) {
			t.Errorf("service %s: image %s has no stand-in in scripts/base-images.sh (make compose-test fails offline)", name, image)
		}
	}
	nats := asMap(get(services, "nats", "environment"))
	for _, k := range []string{"MARKETFLEET_NATS_PRODUCER_PASSWORD", "MARKETFLEET_NATS_WORKER_PASSWORD", "MARKETFLEET_NATS_ADMIN_PASSWORD"} {
		if nats[k] == nil {
			t.Errorf("nats has no %s: auth would be off", k)
		}
	}
	worker := services["worker"]
	if r := num(t, "worker replicas", get(worker, "deploy", "replicas")); r > budget || r < 1 {
		t.Errorf("worker replicas %d, want 1..budget %d", r, budget)
	}
	env := map[string]string{}
	for k, v := range asMap(get(worker, "environment")) {
		env[k] = str(v)
	}
	if env["FLEET_MAX_SESSIONS"] != str(doc["x-budget"]) {
		t.Errorf("worker FLEET_MAX_SESSIONS %q, want the budget %d", env["FLEET_MAX_SESSIONS"], budget)
	}
	stop, err := time.ParseDuration(str(get(worker, "stop_grace_period")))
	if err != nil || stop <= drain(t, env) {
		t.Errorf("worker stop_grace_period %v (%v), want more than the drain %s", stop, err, drain(t, env))
	}
	if env["FLEET_NATS_USER"] != "worker" || !strings.Contains(env["DATABASE_URL"], "marketfleet_worker") {
		t.Error("the worker must run as the worker users of NATS and PostgreSQL")
	}
}

func TestKubernetes(t *testing.T) {
	paths, err := filepath.Glob("k8s/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][]map[string]any{}
	for _, p := range paths {
		for _, d := range yamlDocs(t, p) {
			// kubectl apply -f deploy/k8s/ applies every file: each
			// document must be a Kubernetes object (Helm values live in
			// deploy/helm/).
			if str(d["apiVersion"]) == "" || str(d["kind"]) == "" {
				t.Errorf("%s: a document without apiVersion and kind: kubectl apply -f deploy/k8s/ would fail on it", p)
			}
			byKind[str(d["kind"])] = append(byKind[str(d["kind"])], d)
		}
	}
	var worker map[string]any
	for _, d := range byKind["Deployment"] {
		name := str(get(d, "metadata", "name"))
		pod := get(d, "spec", "template", "spec")
		if get(pod, "securityContext", "runAsNonRoot") != true || num(t, name+" runAsUser", get(pod, "securityContext", "runAsUser")) == 0 {
			t.Errorf("%s: pods must run as non-root (runAsNonRoot, runAsUser != 0)", name)
		}
		for _, c := range asList(get(pod, "containers")) {
			if !pinned(str(get(c, "image"))) {
				t.Errorf("%s: image %q, want a pinned version", name, str(get(c, "image")))
			}
			if get(c, "securityContext", "allowPrivilegeEscalation") != false || get(c, "securityContext", "readOnlyRootFilesystem") != true {
				t.Errorf("%s: containers must not escalate and must have a read-only root", name)
			}
		}
		if name == "marketfleet-worker" {
			worker = d
		}
	}
	if worker == nil {
		t.Fatal("no marketfleet-worker Deployment")
	}
	budget := num(t, "worker budget annotation", get(worker, "metadata", "annotations", "marketfleet.io/connection-budget"))
	if r := num(t, "worker replicas", get(worker, "spec", "replicas")); r > budget {
		t.Errorf("worker replicas %d exceed the budget %d", r, budget)
	}
	c := get(worker, "spec", "template", "spec", "containers", "0")
	env := map[string]string{}
	for _, e := range asList(get(c, "env")) {
		env[str(get(e, "name"))] = str(get(e, "value"))
	}
	grace := time.Duration(num(t, "terminationGracePeriodSeconds", get(worker, "spec", "template", "spec", "terminationGracePeriodSeconds"))) * time.Second
	if grace <= drain(t, env) {
		t.Errorf("worker terminationGracePeriodSeconds %s, want more than the drain %s", grace, drain(t, env))
	}
	if get(c, "readinessProbe", "httpGet", "path") != "/readyz" || get(c, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Error("worker probes must use /readyz (readiness) and /healthz (liveness)")
	}
	if env["FLEET_METRICS_ADDR"] == "" {
		t.Error("worker probes need FLEET_METRICS_ADDR")
	}

	scaled := byKind["ScaledObject"]
	if len(scaled) != 1 {
		t.Fatalf("%d ScaledObjects, want 1", len(scaled))
	}
	so := scaled[0]
	soBudget := num(t, "ScaledObject budget annotation", get(so, "metadata", "annotations", "marketfleet.io/connection-budget"))
	if soBudget != budget {
		t.Errorf("the ScaledObject's budget %d differs from the Deployment's %d", soBudget, budget)
	}
	if m := num(t, "maxReplicaCount", get(so, "spec", "maxReplicaCount")); m > budget {
		t.Errorf("maxReplicaCount %d exceeds the budget %d", m, budget)
	}
	trig := get(so, "spec", "triggers", "0")
	if str(get(trig, "type")) != "nats-jetstream" || str(get(trig, "metadata", "consumer")) != queue.DefaultConsumer ||
		str(get(trig, "metadata", "stream")) != queue.DefaultStream {
		t.Errorf("KEDA trigger %v: want nats-jetstream on %s/%s (a wrong consumer scales to the maximum)", trig, queue.DefaultStream, queue.DefaultConsumer)
	}
	if str(get(so, "spec", "scaleTargetRef", "name")) != "marketfleet-worker" {
		t.Error("the ScaledObject must scale marketfleet-worker")
	}
	if len(byKind["NetworkPolicy"]) < 2 {
		t.Error("want NetworkPolicies for the workers and the producer")
	}
	// kubectl apply -f deploy/k8s/ must never create a Secret: the example
	// lives in examples/ (not applied: apply -f is not recursive) and holds
	// placeholders only.
	if len(byKind["Secret"]) > 0 {
		t.Error("deploy/k8s/ holds a Secret: kubectl apply -f deploy/k8s/ would install it; keep it in deploy/k8s/examples/")
	}
	for _, s := range yamlDocs(t, "k8s/examples/secret.yaml") {
		for k, v := range asMap(get(s, "stringData")) {
			if !strings.Contains(str(v), "CHANGE-ME") {
				t.Errorf("examples/secret.yaml %s holds a value that is not a placeholder", k)
			}
		}
	}
	// kubectl applies a folder's files in name order: the namespace first.
	if first := yamlDocs(t, paths[0]); str(first[0]["kind"]) != "Namespace" {
		t.Errorf("%s is applied first, want the Namespace (name it 00-namespace.yaml)", paths[0])
	}

	nv := yamlDocs(t, "helm/nats-values.yaml")[0]
	if num(t, "NATS replicas", get(nv, "config", "cluster", "replicas")) != 3 || str(get(nv, "config", "jetstream", "merge", "sync_interval")) != "always" {
		t.Error("NATS must run 3 replicas with sync_interval: always")
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	v := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(gomod)
	if tag := str(get(nv, "container", "image", "tag")); v == nil || !strings.HasPrefix(tag, string(v[1])) {
		t.Errorf("NATS image tag %q, want the version pinned in go.mod", tag)
	}
}

func TestSystemd(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for unit, envFile := range map[string]string{
		"systemd/marketfleet-worker@.service":  "systemd/worker.env.example",
		"systemd/marketfleet-producer.service": "systemd/producer.env.example",
	} {
		env := readEnv(t, envFile)
		for k := range env {
			if !strings.Contains(string(readme), "| `"+k+"` |") {
				t.Errorf("%s sets %s, which the README's configuration table does not document", envFile, k)
			}
		}
		u, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)`).FindSubmatch(u)
		if m == nil {
			t.Fatalf("%s: no TimeoutStopSec", unit)
		}
		stop, _ := strconv.Atoi(string(m[1]))
		if strings.Contains(unit, "worker") && time.Duration(stop)*time.Second <= drain(t, env) {
			t.Errorf("%s: TimeoutStopSec=%d, want more than the drain %s", unit, stop, drain(t, env))
		}
		for _, want := range []string{"User=marketfleet", "NoNewPrivileges=true", "EnvironmentFile=/etc/marketfleet/"} {
			if !bytes.Contains(u, []byte(want)) {
				t.Errorf("%s lacks %s", unit, want)
			}
		}
	}
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=value", path, line)
		}
		env[k] = v
	}
	return env
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// TestImageBinariesAreStatic builds what the Dockerfile builds, the way it
// builds it (CGO_ENABLED=0), and checks every binary is a static
// executable: no program interpreter and no shared libraries, so it runs
// on distroless/static. (The images themselves are not built here: no
// Docker daemon on the CI machine.)
func TestImageBinariesAreStatic(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out+string(os.PathSeparator),
		"../cmd/worker", "../cmd/producer", "../cmd/fleetctl", "github.com/nats-io/nats-server/v2")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	for _, name := range []string{"worker", "producer", "fleetctl", "nats-server"} {
		f, err := elf.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s needs a program interpreter: not static", name)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v", name, libs)
		}
		_ = f.Close()
	}
}
