package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// scratchLibDir holds one directory per installed PostgreSQL major version
// (Debian layout); NewScratchPostgres uses the newest <version>/bin in it.
const scratchLibDir = "/usr/lib/postgresql"

const (
	// scratchOSUser runs the scratch cluster when the test runs as root:
	// PostgreSQL refuses to run as root.
	scratchOSUser = "postgres"
	// scratchReadyWait bounds every wait for the server to accept connections.
	scratchReadyWait = 30 * time.Second
	// scratchCmdTimeout bounds one initdb or pg_ctl run.
	scratchCmdTimeout = 90 * time.Second
	// scratchLogName is the server log, inside the data directory.
	scratchLogName = "server.log"
	// scratchLogTail is how many log lines a failure message quotes.
	scratchLogTail = 30
	// maxSocketPath is the longest Unix socket path (sun_path is 108 bytes
	// including the terminating NUL).
	maxSocketPath = 107
	// scratchPortTries is how often NewScratchPostgres picks a new port when
	// another process grabbed the one it picked before the server bound it.
	scratchPortTries = 3
)

// scratchDefaults are the server settings of every scratch cluster; settings
// passed to NewScratchPostgres come later in postgresql.conf and so win.
// fsync stays on: tests that Restart("immediate") need real crash recovery.
var scratchDefaults = []string{
	"listen_addresses=127.0.0.1",
	"shared_buffers=16MB",
	"max_connections=50",
}

// ScratchPostgres is a private PostgreSQL cluster for one test: its own data
// directory and port, trust auth, listening on 127.0.0.1 only. Stopped
// (immediate) and deleted when the test ends.
//
// Fault tests use it to restart or crash the server without disturbing
// anyone else's server. As root, the cluster is owned by and run as the OS
// user postgres.
type ScratchPostgres struct {
	// DataDir is the cluster's data directory, created under os.TempDir().
	// It also holds the server log and, when the path is short enough, the
	// Unix socket.
	DataDir string
	// Port is the TCP port the server listens on at 127.0.0.1.
	Port int

	t       testing.TB
	binDir  string
	runuser string // path of runuser when running as root, else ""
}

// NewScratchPostgres creates and starts a scratch cluster for t and waits
// until it accepts connections. settings are extra server settings in the
// form of `postgres -c name=value`, without the -c, e.g. "max_connections=20";
// a value is taken literally (no quoting needed). The cluster is stopped with
// pg_ctl stop -m immediate and its data directory deleted when t ends.
//
// It fails t with instructions if the PostgreSQL server binaries are not
// installed; it never skips.
func NewScratchPostgres(t testing.TB, settings ...string) *ScratchPostgres {
	t.Helper()
	conf, err := scratchConf(append(append([]string(nil), scratchDefaults...), settings...))
	if err != nil {
		t.Fatalf("testenv: NewScratchPostgres: %v", err)
	}
	binDir, err := scratchBinDir(scratchLibDir)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p := &ScratchPostgres{t: t, binDir: binDir}
	var uid, gid int
	if os.Geteuid() == 0 {
		uid, gid, err = scratchLookupIDs(scratchOSUser)
		if err != nil {
			t.Fatalf("testenv: running as root, so the scratch PostgreSQL must run as the OS user %s "+
				"(PostgreSQL refuses to run as root), but: %v. Install the Debian package postgresql "+
				"(it creates that user), or run the tests as an ordinary user.", scratchOSUser, err)
		}
		if p.runuser, err = scratchFindRunuser(); err != nil {
			t.Fatalf("testenv: running as root, so the scratch PostgreSQL must run as the OS user %s, but: %v. "+
				"Install the Debian package util-linux, or run the tests as an ordinary user.", scratchOSUser, err)
		}
	}

	dir, err := os.MkdirTemp("", "marketfleet-pg-")
	if err != nil {
		t.Fatalf("testenv: create scratch PostgreSQL data directory: %v", err)
	}
	p.DataDir = dir
	// Registered before anything can start the server, so a half-started
	// server is stopped too.
	t.Cleanup(p.cleanup)
	if p.runuser != "" {
		// The directory is still empty: chowning it is chown -R.
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("testenv: chown %s to %s: %v", dir, scratchOSUser, err)
		}
		if out, err := p.run("test", "-w", dir); err != nil {
			t.Fatalf("testenv: the OS user %s cannot write %s (%v%s): every parent directory must be "+
				"traversable by %s. Set TMPDIR to such a directory, e.g. /tmp.",
				scratchOSUser, dir, err, scratchOutSuffix(out), scratchOSUser)
		}
	}

	// --no-sync only skips initdb's final fsync of the new files; the server
	// itself runs with fsync on, so immediate restarts do real crash recovery.
	if out, err := p.run(filepath.Join(binDir, "initdb"), "-D", dir, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		t.Fatalf("testenv: initdb %s: %v%s", dir, err, scratchOutSuffix(out))
	}
	if err := scratchAppendFile(filepath.Join(dir, "postgresql.conf"),
		"\n# testenv.NewScratchPostgres\n"+conf); err != nil {
		t.Fatalf("testenv: configure scratch PostgreSQL: %v", err)
	}

	for try := 1; ; try++ {
		if p.Port, err = scratchFreePort(); err != nil {
			t.Fatalf("testenv: pick a port for scratch PostgreSQL: %v", err)
		}
		sockDir := scratchSocketDir(dir, p.Port)
		if err := scratchAppendFile(filepath.Join(dir, "postgresql.conf"), fmt.Sprintf(
			"port = %d\nunix_socket_directories = %s\n", p.Port, scratchConfQuote(sockDir))); err != nil {
			t.Fatalf("testenv: configure scratch PostgreSQL: %v", err)
		}
		logStart := scratchFileSize(p.LogPath())
		out, err := p.pgCtl("start", "-l", p.LogPath())
		if err == nil {
			break
		}
		if try < scratchPortTries && strings.Contains(scratchReadFrom(p.LogPath(), logStart), "already in use") {
			continue // lost the port to another process: pick another
		}
		p.fatal("pg_ctl start", err, out)
	}
	p.waitReady("start")
	return p
}

// URL is the superuser connection URL of the cluster:
// postgres://postgres@127.0.0.1:<port>/postgres?sslmode=disable.
func (p *ScratchPostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}

// LogPath is the path of the server log (inside DataDir).
func (p *ScratchPostgres) LogPath() string { return filepath.Join(p.DataDir, scratchLogName) }

// Restart runs pg_ctl restart -m mode ("smart", "fast" or "immediate") and
// waits until the server accepts connections again. After "immediate" the
// server does crash recovery before it accepts connections. Open
// connections are broken either way (smart waits for them to end).
func (p *ScratchPostgres) Restart(mode string) {
	p.t.Helper()
	p.checkMode("Restart", mode)
	if out, err := p.pgCtl("restart", "-m", mode, "-l", p.LogPath()); err != nil {
		p.fatal("pg_ctl restart -m "+mode, err, out)
	}
	p.waitReady("restart -m " + mode)
}

// Stop runs pg_ctl stop -m mode ("smart", "fast" or "immediate") and waits
// until the server is gone. Start brings it back.
func (p *ScratchPostgres) Stop(mode string) {
	p.t.Helper()
	p.checkMode("Stop", mode)
	if out, err := p.pgCtl("stop", "-m", mode); err != nil {
		p.fatal("pg_ctl stop -m "+mode, err, out)
	}
}

// Start starts the server again after Stop, on the same port and data
// directory, and waits until it accepts connections (after crash recovery
// if it was stopped with "immediate").
func (p *ScratchPostgres) Start() {
	p.t.Helper()
	if out, err := p.pgCtl("start", "-l", p.LogPath()); err != nil {
		p.fatal("pg_ctl start", err, out)
	}
	p.waitReady("start")
}

// checkMode fails the test unless mode is a pg_ctl shutdown mode.
func (p *ScratchPostgres) checkMode(method, mode string) {
	p.t.Helper()
	switch mode {
	case "smart", "fast", "immediate":
	default:
		p.t.Fatalf("testenv: ScratchPostgres.%s(%q): mode must be smart, fast or immediate", method, mode)
	}
}

// pgCtl runs pg_ctl on the cluster with -w: it waits (up to
// scratchReadyWait) for the operation to finish.
func (p *ScratchPostgres) pgCtl(action string, args ...string) ([]byte, error) {
	full := []string{"-D", p.DataDir, "-w", "-t", strconv.Itoa(int(scratchReadyWait / time.Second)), action}
	return p.run(filepath.Join(p.binDir, "pg_ctl"), append(full, args...)...)
}

// run runs a program as the cluster's owner (via runuser when we are root)
// from / and returns its combined output. PG* variables of the test's
// environment are not passed on: the cluster is configured by its own files.
func (p *ScratchPostgres) run(prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scratchCmdTimeout)
	defer cancel()
	if p.runuser != "" {
		args = append([]string{"-u", scratchOSUser, "--", prog}, args...)
		prog = p.runuser
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = "/" // the postgres user may not be allowed into our working directory
	cmd.Stdin = nil
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The postmaster writes to its log file, not to our pipe; should anything
	// inherit the pipe anyway, do not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return out, nil
}

// waitReady polls the server with SELECT 1 until it answers or
// scratchReadyWait has passed; then it fails the test.
func (p *ScratchPostgres) waitReady(after string) {
	p.t.Helper()
	deadline := time.Now().Add(scratchReadyWait)
	for {
		err := scratchPing(p.URL(), 3*time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.fatal(fmt.Sprintf("no connection after %s within %s", after, scratchReadyWait), err, nil)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fatal fails the test with err, the command output and the tail of the
// server log.
func (p *ScratchPostgres) fatal(what string, err error, out []byte) {
	p.t.Helper()
	p.t.Fatalf("testenv: scratch PostgreSQL %s: %s: %v%s\n--- last %d lines of %s ---\n%s",
		p.DataDir, what, err, scratchOutSuffix(out), scratchLogTail, p.LogPath(), p.logTail())
}

// logTail returns the last scratchLogTail lines of the server log.
func (p *ScratchPostgres) logTail() string {
	b, err := os.ReadFile(p.LogPath())
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > scratchLogTail {
		lines = lines[len(lines)-scratchLogTail:]
	}
	return strings.Join(lines, "\n")
}

// cleanup stops the server (immediate) if it runs and deletes DataDir.
func (p *ScratchPostgres) cleanup() {
	if _, err := os.Stat(filepath.Join(p.DataDir, "postmaster.pid")); err == nil {
		if out, err := p.pgCtl("stop", "-m", "immediate"); err != nil && p.running() {
			p.t.Errorf("testenv: stop scratch PostgreSQL %s: %v%s\n--- last %d lines of %s ---\n%s",
				p.DataDir, err, scratchOutSuffix(out), scratchLogTail, p.LogPath(), p.logTail())
			p.kill()
		}
	}
	if err := os.RemoveAll(p.DataDir); err != nil {
		p.t.Errorf("testenv: remove scratch PostgreSQL data directory: %v", err)
	}
}

// running reports whether pg_ctl status finds a live server.
func (p *ScratchPostgres) running() bool {
	_, err := p.pgCtl("status")
	return err == nil
}

// kill sends SIGKILL to the postmaster named in postmaster.pid: the last
// resort when pg_ctl cannot stop it, so no server outlives its directory.
func (p *ScratchPostgres) kill() {
	b, err := os.ReadFile(filepath.Join(p.DataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pid > 1 {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			p.t.Errorf("testenv: kill scratch postmaster %d: %v", pid, err)
		}
	}
}

// scratchPing connects to url and runs SELECT 1.
func scratchPing(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("SELECT 1: %w", err)
	}
	return nil
}

// scratchBinDir returns the newest <libDir>/<version>/bin that holds
// initdb, pg_ctl and postgres.
func scratchBinDir(libDir string) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(libDir, "*", "bin"))
	var found []string
	for _, dir := range dirs {
		ok := true
		for _, prog := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, prog)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				ok = false
			}
		}
		if ok {
			found = append(found, dir)
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("PostgreSQL server binaries not found under %s/*/bin: "+
			"install the Debian package postgresql (scripts/postgres.sh up does)", libDir)
	}
	sort.Slice(found, func(i, j int) bool {
		return scratchVersionLess(filepath.Base(filepath.Dir(found[i])), filepath.Base(filepath.Dir(found[j])))
	})
	return found[len(found)-1], nil
}

// scratchVersionLess compares dotted version numbers numerically ("9.6" < "15").
func scratchVersionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errX := strconv.Atoi(as[i])
		y, errY := strconv.Atoi(bs[i])
		if errX != nil || errY != nil {
			if as[i] != bs[i] {
				return as[i] < bs[i]
			}
			continue
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

var scratchSettingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// scratchConf turns "name=value" settings into postgresql.conf lines.
func scratchConf(settings []string) (string, error) {
	var b strings.Builder
	for _, s := range settings {
		name, value, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		if !ok || !scratchSettingName.MatchString(name) {
			return "", fmt.Errorf("setting %q is not of the form name=value", s)
		}
		if strings.ContainsAny(value, "\n\r") {
			return "", fmt.Errorf("setting %q: value contains a line break", s)
		}
		fmt.Fprintf(&b, "%s = %s\n", name, scratchConfQuote(value))
	}
	return b.String(), nil
}

// scratchConfQuote quotes s as a postgresql.conf string literal.
func scratchConfQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// scratchSocketDir returns dir if the server's Unix socket
// (<dir>/.s.PGSQL.<port>) fits the socket path limit, else "" (no socket).
func scratchSocketDir(dir string, port int) string {
	if len(dir)+len("/.s.PGSQL.")+len(strconv.Itoa(port)) > maxSocketPath {
		return ""
	}
	return dir
}

// scratchFreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func scratchFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

// scratchLookupIDs returns the uid and gid of an OS user.
func scratchLookupIDs(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("uid of %s: %w", name, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("gid of %s: %w", name, err)
	}
	return uid, gid, nil
}

// scratchFindRunuser returns the path of runuser (often in /usr/sbin, which may
// be missing from PATH).
func scratchFindRunuser() (string, error) {
	if path, err := exec.LookPath("runuser"); err == nil {
		return path, nil
	}
	for _, path := range []string{"/usr/sbin/runuser", "/sbin/runuser"} {
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
	}
	return "", errors.New("runuser not found in PATH, /usr/sbin or /sbin")
}

// scratchAppendFile appends text to the file at path.
func scratchAppendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// scratchFileSize returns the size of the file at path, 0 if it does not exist.
func scratchFileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// scratchReadFrom returns the contents of the file at path from offset on.
func scratchReadFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

// scratchOutSuffix formats command output for an error message.
func scratchOutSuffix(out []byte) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return ""
	}
	return "\n" + s
}
