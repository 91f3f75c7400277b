package testenv

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// chromiumScript finds (and installs when missing) a chromium binary; its
// path is from the module root.
const chromiumScript = "scripts/chromium.sh"

// chromiumTimeout bounds one headless chromium run.
const chromiumTimeout = 60 * time.Second

// Chromium returns the path of a chromium binary as scripts/chromium.sh
// finds it: $CHROMIUM if set, else chromium on PATH, else Debian's chromium
// package, which the script installs (as root or via sudo). It fails the
// test, saying what to do, when there is none.
func Chromium(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, chromiumScript))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testenv: %s: %v\n%s\nInstall Debian's chromium package (the script does, as root or via sudo) "+
			"or set CHROMIUM=/path/to/chromium", chromiumScript, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(bytes.TrimSpace(out))
}

// Screenshot renders the page in htmlPath with a headless chromium whose
// window, and so the picture, is width x height CSS pixels at a device scale
// factor of 1, and returns the picture.
func Screenshot(t testing.TB, htmlPath string, width, height int) image.Image {
	t.Helper()
	file := filepath.Join(t.TempDir(), "screenshot.png")
	runChromium(t, htmlPath, width, height, "--screenshot="+file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("testenv: chromium wrote no screenshot: %v", err)
	}
	defer func() { _ = f.Close() }()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("testenv: decode the screenshot %s: %v", file, err)
	}
	return img
}

// DumpDOM loads the page in htmlPath in a headless chromium whose window is
// width x height CSS pixels and returns its DOM serialized as HTML once it
// has loaded, after its scripts ran.
func DumpDOM(t testing.TB, htmlPath string, width, height int) string {
	t.Helper()
	return string(runChromium(t, htmlPath, width, height, "--dump-dom"))
}

// runChromium runs a headless chromium with a fresh profile, no network of
// its own and the given action flag on htmlPath, and returns its stdout. It
// fails the test when chromium fails or takes longer than chromiumTimeout.
func runChromium(t testing.TB, htmlPath string, width, height int, action string) []byte {
	t.Helper()
	abs, err := filepath.Abs(htmlPath)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Chromium(t),
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--force-device-scale-factor=1",
		"--user-data-dir="+t.TempDir(),
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		action, (&url.URL{Scheme: "file", Path: abs}).String())
	// Chromium forks helpers: on timeout kill the whole process group, and do
	// not wait for a helper that keeps the output pipes open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = errors.New("no result within " + chromiumTimeout.String())
		}
		log := stderr.Bytes()
		log = log[max(0, len(log)-4000):]
		t.Fatalf("testenv: chromium %s %s: %v\n%s", action, htmlPath, err, log)
	}
	return out
}

// moduleRoot returns the nearest directory at or above the working
// directory (a package's, under go test) that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory: run inside the marketfleet module")
		}
		dir = parent
	}
}
