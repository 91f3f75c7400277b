package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"marketfleet/internal/backoff"
)

// NATSHooks are told about the connection's life, for metrics. Nil fields
// are skipped.
type NATSHooks struct {
	// Connected is called with true on connect and reconnect, false on a
	// disconnect.
	Connected func(up bool)
	// Reconnected is called after each reconnection.
	Reconnected func()
}

// ConnectNATS connects to c's NATS_URL as client name with c's
// credentials and TLS settings, retrying with backoff until ctx ends, and
// returns the connection with a JetStream handle. A refused credential or a
// certificate that does not verify is returned at once: retrying cannot
// fix it. Once connected, the client reconnects forever on its own;
// disconnects and reconnects are logged, and reported to hooks (at most
// one). Neither the URL (it may hold credentials) nor a secret is logged.
func ConnectNATS(ctx context.Context, c Common, name string, log zerolog.Logger, hooks ...NATSHooks) (*nats.Conn, jetstream.JetStream, error) {
	auth, err := c.NATSAuth.Options()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration: %w", err)
	}
	var h NATSHooks
	if len(hooks) > 0 {
		h = hooks[0]
	}
	up := func(b bool) {
		if h.Connected != nil {
			h.Connected(b)
		}
	}
	opts := append(auth,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.Timeout(5*time.Second),
		// Notice a dead or black-holed server in ~30s, not the default ~4min.
		nats.PingInterval(10*time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			up(false)
			if err != nil { // nil on a deliberate Close
				log.Warn().Err(err).Msg("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			up(true)
			if h.Reconnected != nil {
				h.Reconnected()
			}
			log.Info().Str("server", nc.ConnectedServerId()).Msg("nats reconnected")
		}),
	)
	for attempt := 1; ; attempt++ {
		nc, err := nats.Connect(c.NATSURL, opts...)
		if err == nil {
			js, err := JetStreamOn(nc)
			if err != nil {
				return nil, nil, err
			}
			up(true)
			return nc, js, nil
		}
		if permanentNATSError(err) {
			return nil, nil, fmt.Errorf("connect to NATS_URL: %w", err)
		}
		delay := backoff.Default.Delay(attempt)
		log.Warn().Err(err).Int("attempt", attempt).Stringer("retry_in", delay).Msg("nats connect failed")
		if serr := backoff.Sleep(ctx, delay); serr != nil {
			return nil, nil, fmt.Errorf("connect to NATS_URL: %w; last attempt: %w", serr, err)
		}
	}
}

// JetStreamOn checks that nc's server can run the fleet (CheckServerVersion)
// and returns a JetStream handle on it; on error it closes nc.
func JetStreamOn(nc *nats.Conn) (jetstream.JetStream, error) {
	if err := CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
		nc.Close()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	// Without JetStream every request below would fail with "no
	// responders": say what is wrong instead. The server says so in its
	// INFO (no round trip, and no false alarm from a server still
	// electing its JetStream leader, which also answers "no responders").
	if enabled, _ := nc.ConnectedServerJetStream(); !enabled {
		server := nc.ConnectedUrlRedacted()
		nc.Close()
		return nil, fmt.Errorf("JetStream is not enabled on %s: start nats-server with -js (jetstream {} in its configuration)", server)
	}
	return js, nil
}

// MinServerVersion is the oldest nats-server the fleet runs against: it
// relies on TermWithReason (2.10.4) and per-key TTLs in KV (2.11).
const MinServerVersion = "2.11.0"

// CheckServerVersion refuses servers older than MinServerVersion, such as
// Debian's 2.9 package.
func CheckServerVersion(v string) error {
	var major, minor, patch int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch); err != nil {
		return fmt.Errorf("nats-server version %q: cannot parse", v)
	}
	if major < 2 || major == 2 && minor < 11 {
		return fmt.Errorf("nats-server %s is too old: marketfleet needs >= %s with JetStream (build one with `make nats-server`)", v, MinServerVersion)
	}
	return nil
}
