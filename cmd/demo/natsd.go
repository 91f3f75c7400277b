package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"marketfleet/cmd/internal/cli"
)

// demoNATSURL is where the demo's own server listens (deploy/nats/demo.conf);
// it is not 4222 so that an old system nats-server there is left alone.
const demoNATSURL = "nats://127.0.0.1:14222"

// ensureNATS returns a usable JetStream server URL: $NATS_URL if set (it
// must be suitable), else the demo server, started from bin/nats-server
// when it is not already running. stop shuts down a server it started.
func ensureNATS(ctx context.Context, o options) (url string, stop func(), err error) {
	nop := func() {}
	if u := os.Getenv("NATS_URL"); u != "" {
		if err := probeNATS(ctx, u); err != nil {
			return "", nil, fmt.Errorf("NATS_URL: %w", err)
		}
		return u, nop, nil
	}
	if err := probeNATS(ctx, demoNATSURL); err == nil {
		fmt.Printf("nats:     using the running server at %s\n", demoNATSURL)
		return demoNATSURL, nop, nil
	} else if !errors.Is(err, nats.ErrNoServers) {
		return "", nil, fmt.Errorf("%s: %w", demoNATSURL, err)
	}
	bin := filepath.Join(o.binDir, "nats-server")
	storeDir := filepath.Join(o.stateDir, "nats")
	logFile, err := os.Create(filepath.Join(o.stateDir, "nats-server.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-c", "deploy/nats/demo.conf", "-sd", storeDir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", nil, fmt.Errorf("start %s (build it with `make nats-server`): %w", bin, err)
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
	}
	deadline := time.Now().Add(15 * time.Second)
	for probeNATS(ctx, demoNATSURL) != nil {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("nats-server did not start; see %s", logFile.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("nats:     started %s (JetStream, store %s, sync always)\n", bin, storeDir)
	return demoNATSURL, stop, nil
}

// probeNATS checks that url answers, runs a recent enough nats-server and
// has JetStream enabled.
func probeNATS(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.MaxReconnects(0))
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := cli.CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream unavailable: %w", err)
	}
	return nil
}
