package queue_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind, but for the
// pulls the Fetcher tests leave open on purpose: an open pull ends at its
// expiry (nats.go keeps its goroutine until then, even after the connection
// closed), and the Fetcher's contract is that Drain collects it, which
// TestFetcherDrainReturnsUnstartedMessages checks and the runner's and
// worker's leak checks hold it to.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*pullConsumer).fetch.func1"))
}
