package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// scratchPG is a PostgreSQL cluster of the benchmark's own, for the
// exhaustion mode: max_connections set low without touching the machine's
// server. As root it runs as the OS user postgres (PostgreSQL refuses root).
type scratchPG struct {
	dir, bin string
	asUser   string // "" when not root
	url      string
}

// startScratchPG initdb's a cluster under dir and starts it on a free
// loopback port with max_connections = maxConn.
func startScratchPG(ctx context.Context, dir string, maxConn int) (*scratchPG, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, fmt.Errorf("no PostgreSQL server binaries in /usr/lib/postgresql (apt-get install postgresql)")
	}
	sort.Strings(bins)
	p := &scratchPG{dir: dir, bin: filepath.Dir(bins[len(bins)-1])}
	if os.Geteuid() == 0 {
		p.asUser = "postgres"
		u, err := user.Lookup(p.asUser)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		_ = os.Chmod(filepath.Dir(dir), 0o755)
	}
	if out, err := p.run(ctx, "initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c max_connections=%d -c superuser_reserved_connections=3",
		port, dir, maxConn)
	if out, err := p.run(ctx, "pg_ctl", "-D", dir, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "start"); err != nil {
		return nil, fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	p.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := pgx.Connect(ctx, p.url)
		if err == nil {
			_ = c.Close(ctx)
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("scratch PostgreSQL did not accept connections: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *scratchPG) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bin, tool)
	var cmd *exec.Cmd
	if p.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", p.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// stop ends the cluster at once and deletes it.
func (p *scratchPG) stop() {
	_, _ = p.run(context.Background(), "pg_ctl", "-D", p.dir, "-m", "immediate", "-w", "stop")
	_ = os.RemoveAll(p.dir)
}
