//go:build k8s

package k8stest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marketfleet/internal/testenv"
)

// TestManifestsApplyToARealAPIServer starts etcd and a real kube-apiserver,
// installs the KEDA CRDs, and applies deploy/k8s/ with kubectl, server-side
// and with strict validation (an unknown field is an error): every object is
// stored; then both Deployments roll out on a kwok node. A copy of the
// folder with one unknown field in the worker's Deployment must be refused:
// the test can fail.
func TestManifestsApplyToARealAPIServer(t *testing.T) {
	start := time.Now()
	k := startCluster(t)
	t.Logf("etcd and kube-apiserver ready in %s", time.Since(start).Round(time.Second))

	k.kubectl(t, "apply", "--server-side", "-f", filepath.Join(k.bin, "keda-crds"))
	// Polled, not kubectl wait: that fails at once while the CRD has no
	// status yet.
	testenv.Poll(t, time.Minute, 500*time.Millisecond, "the KEDA CRDs to be established", func() bool {
		out, err := k.kubectlErr("get", "crd", "scaledobjects.keda.sh", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return err == nil && strings.TrimSpace(out) == "True"
	})

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(root, "deploy/k8s")
	out := k.kubectl(t, "apply", "--server-side", "--validate=strict", "-f", folder)
	t.Logf("kubectl apply -f deploy/k8s/:\n%s", out)
	for _, want := range []string{"namespace/marketfleet", "deployment.apps/marketfleet-worker", "deployment.apps/marketfleet-producer",
		"scaledobject.keda.sh/marketfleet-worker"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply -f deploy/k8s/ did not apply %s", want)
		}
	}
	if got := k.kubectl(t, "get", "deployments,networkpolicies,scaledobjects", "-n", "marketfleet", "-o", "name"); strings.Count(got, "\n") < 4 {
		t.Errorf("objects stored in namespace marketfleet:\n%s", got)
	}
	if got := k.kubectl(t, "get", "secrets", "-n", "marketfleet", "-o", "name"); strings.Contains(got, "marketfleet-credentials") {
		t.Error("applying the folder created the example Secret")
	}

	k.rollOut(t)

	// A broken copy: one unknown field in the worker's container.
	broken := t.TempDir()
	entries, err := os.ReadDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(folder, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "worker.yaml" {
			b = []byte(strings.Replace(string(b), "          image:", "          imagePullPolicyy: Always\n          image:", 1))
		}
		if err := os.WriteFile(filepath.Join(broken, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err = k.kubectlErr("apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", broken)
	if err == nil || !strings.Contains(out, "imagePullPolicyy") {
		t.Fatalf("a worker.yaml with an unknown field was accepted (err %v):\n%s", err, out)
	}
	t.Logf("the broken copy is refused: %s", firstLine(out, "imagePullPolicyy"))
	t.Logf("k8s-test took %s", time.Since(start).Round(time.Second))
}

// cluster is etcd and kube-apiserver, and a kubeconfig for them.
type cluster struct {
	bin, kubeconfig, kubectlBin, dir string
}

// fakeNode is a node kwok pretends to run: it marks the pods bound to it
// running and ready.
const fakeNode = `apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
`

// rollOut starts kube-controller-manager, kube-scheduler and kwok with one
// fake node, and waits for both Deployments to roll out: their replicas
// created, scheduled and (pretended) ready.
func (k *cluster) rollOut(t *testing.T) {
	t.Helper()
	start := time.Now()
	background(t, k.dir, "kube-controller-manager", filepath.Join(k.bin, "kube-controller-manager"),
		"--kubeconfig", k.kubeconfig, "--authentication-kubeconfig", k.kubeconfig, "--authorization-kubeconfig", k.kubeconfig,
		"--controllers", "deployment,replicaset,serviceaccount", "--leader-elect=false",
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(testenv.FreePort(t)))
	background(t, k.dir, "kube-scheduler", filepath.Join(k.bin, "kube-scheduler"),
		"--kubeconfig", k.kubeconfig, "--authentication-kubeconfig", k.kubeconfig, "--authorization-kubeconfig", k.kubeconfig,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(testenv.FreePort(t)))
	background(t, k.dir, "kwok", filepath.Join(k.bin, "kwok"), "--kubeconfig", k.kubeconfig,
		"--config", filepath.Join(k.bin, "kwok-stages.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.0.0.1/24", "--node-ip=10.0.0.1", "--server-address", "127.0.0.1:"+fmt.Sprint(testenv.FreePort(t)))
	node := filepath.Join(k.dir, "node.yaml")
	writeFile(t, node, []byte(fakeNode))
	k.kubectl(t, "apply", "-f", node)
	// The API server taints a new node not-ready; the node lifecycle
	// controller would lift it once kwok reports the node Ready.
	testenv.Poll(t, time.Minute, 500*time.Millisecond, "kwok to report the node Ready", func() bool {
		out, err := k.kubectlErr("get", "node", "kwok-node-0", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && strings.TrimSpace(out) == "True"
	})
	if out, err := k.kubectlErr("taint", "nodes", "kwok-node-0", "node.kubernetes.io/not-ready:NoSchedule-"); err != nil && !strings.Contains(out, "not found") {
		t.Fatalf("untaint the fake node: %v\n%s", err, out)
	}
	for _, d := range []string{"marketfleet-worker", "marketfleet-producer"} {
		if out, err := k.kubectlErr("rollout", "status", "deployment/"+d, "-n", "marketfleet", "--timeout", "90s"); err != nil {
			state, _ := k.kubectlErr("get", "nodes,replicasets,pods", "-A", "-o", "wide")
			events, _ := k.kubectlErr("get", "events", "-n", "marketfleet")
			t.Fatalf("%s did not roll out: %v\n%s\n%s\n%s", d, err, out, state, events)
		}
	}
	pods := k.kubectl(t, "get", "pods", "-n", "marketfleet", "--field-selector", "status.phase=Running", "-o", "name")
	if n := strings.Count(pods, "pod/marketfleet-worker-"); n != 3 {
		t.Errorf("%d worker pods running, want the Deployment's 3:\n%s", n, pods)
	}
	t.Logf("both Deployments rolled out on a kwok node in %s", time.Since(start).Round(time.Second))
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	k := &cluster{bin: os.Getenv("KUBE_BIN"), kubectlBin: os.Getenv("KUBECTL"), dir: t.TempDir()}
	if k.bin == "" || k.kubectlBin == "" {
		t.Fatal("KUBE_BIN and KUBECTL must be set: run make k8s-test")
	}
	dir := k.dir
	etcdPort, peerPort, apiPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	background(t, dir, "etcd", filepath.Join(k.bin, "etcd"), "--name", "default", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default="+peerURL)
	testenv.Poll(t, time.Minute, 500*time.Millisecond, "etcd", func() bool {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "sa.key")
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	token := fmt.Sprintf("k8s-test-%d", time.Now().UnixNano())
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, []byte(token+`,admin,admin,"system:masters"`+"\n"))
	background(t, dir, "kube-apiserver", filepath.Join(k.bin, "kube-apiserver"),
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(apiPort), "--cert-dir", filepath.Join(dir, "certs"),
		"--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", keyFile,
		"--service-account-signing-key-file", keyFile, "--service-cluster-ip-range", "10.96.0.0/24")
	k.kubeconfig = filepath.Join(dir, "kubeconfig")
	writeFile(t, k.kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, apiPort, token)))
	testenv.Poll(t, 3*time.Minute, 500*time.Millisecond, "kube-apiserver /readyz", func() bool {
		out, err := k.kubectlErr("get", "--raw", "/readyz")
		return err == nil && strings.TrimSpace(out) == "ok"
	})
	return k
}

func (k *cluster) kubectlErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, k.kubectlBin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

func (k *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := k.kubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// background starts a server that lives as long as the test; its output
// goes to a log file, shown when the test fails.
func background(t *testing.T, dir, name, bin string, args ...string) {
	t.Helper()
	logFile := filepath.Join(dir, name+".log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			lines := strings.Split(string(b), "\n")
			t.Logf("%s log (last lines):\n%s", name, strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func firstLine(s, with string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, with) {
			return l
		}
	}
	return ""
}
