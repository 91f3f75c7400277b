package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"

	"marketfleet/internal/testenv"
)

// A server without JetStream is named as such, not reported as "no
// responders" by the first stream request.
func TestJetStreamNotEnabledIsSaid(t *testing.T) {
	url := testenv.NATSWith(t, &server.Options{}) // JetStream off
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err := ConnectNATS(ctx, Common{NATSURL: url}, "test", zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "JetStream is not enabled on nats://127.0.0.1:") || strings.Contains(err.Error(), "no responders") {
		t.Fatalf("ConnectNATS to a server without JetStream = %v, want it to say JetStream is not enabled, naming the server", err)
	}
}
