package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"

	"marketfleet/budget"
	"marketfleet/dlq"
	"marketfleet/queue"
	"marketfleet/slots"
)

// Common is the configuration every command shares. Embed it in a command's
// own spec.
type Common struct {
	NATSURL        string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma-separated; needs nats-server >= 2.11 with JetStream"`
	Stream         string        `envconfig:"FLEET_STREAM" default:"MARKETFLEET_TASKS" desc:"JetStream stream holding the task backlog"`
	StreamReplicas int           `envconfig:"FLEET_STREAM_REPLICAS" default:"1" desc:"stream replicas: 1 on one server, 3 in a production cluster"`
	StreamMaxBytes int64         `envconfig:"FLEET_STREAM_MAX_BYTES" default:"1073741824" desc:"stream size cap in bytes; when full, publishing fails instead of dropping tasks"`
	DedupWindow    time.Duration `envconfig:"FLEET_DEDUP_WINDOW" default:"1h" desc:"window in which a task with the same Nats-Msg-Id is a duplicate"`
	DLQStream      string        `envconfig:"FLEET_DLQ_STREAM" default:"MARKETFLEET_DLQ" desc:"JetStream stream keeping dead letters"`
	DLQMaxAge      time.Duration `envconfig:"FLEET_DLQ_MAX_AGE" default:"720h" desc:"how long dead letters are kept"`
	LogLevel       string        `envconfig:"FLEET_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat      string        `envconfig:"FLEET_LOG_FORMAT" default:"auto" desc:"json, console, or auto (console when stderr is a terminal)"`
	NATSAuth
}

// StreamConfig returns the stream settings as the queue package takes them.
func (c Common) StreamConfig() queue.StreamConfig {
	return queue.StreamConfig{Name: c.Stream, Replicas: c.StreamReplicas, MaxBytes: c.StreamMaxBytes, Duplicates: c.DedupWindow}
}

// DLQConfig returns the dead-letter stream settings.
func (c Common) DLQConfig() dlq.Config {
	return dlq.Config{Name: c.DLQStream, Replicas: c.StreamReplicas, MaxAge: c.DLQMaxAge}
}

// Validate checks the shared settings; errors name the variable.
func (c Common) Validate() error {
	if err := c.NATSAuth.Validate(); err != nil {
		return err
	}
	switch {
	case c.NATSURL == "":
		return errors.New("NATS_URL: must not be empty")
	case c.Stream == "" || !natsName(c.Stream):
		return fmt.Errorf("FLEET_STREAM=%q: want letters, digits, - and _", c.Stream)
	case c.StreamReplicas < 1 || c.StreamReplicas > 5:
		return fmt.Errorf("FLEET_STREAM_REPLICAS=%d: want 1..5", c.StreamReplicas)
	case c.StreamMaxBytes < 1<<20:
		return fmt.Errorf("FLEET_STREAM_MAX_BYTES=%d: want at least 1048576", c.StreamMaxBytes)
	case c.DedupWindow < time.Second:
		return fmt.Errorf("FLEET_DEDUP_WINDOW=%s: want at least 1s", c.DedupWindow)
	case c.DLQStream == "" || !natsName(c.DLQStream) || c.DLQStream == c.Stream:
		return fmt.Errorf("FLEET_DLQ_STREAM=%q: want letters, digits, - and _, and not the task stream", c.DLQStream)
	case c.DLQMaxAge < time.Hour:
		return fmt.Errorf("FLEET_DLQ_MAX_AGE=%s: want at least 1h", c.DLQMaxAge)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	switch c.LogFormat {
	case "auto", "json", "console":
		return nil
	}
	return fmt.Errorf("FLEET_LOG_FORMAT=%q: want json, console or auto", c.LogFormat)
}

func natsName(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Validator is a configuration spec that can check itself.
type Validator interface {
	Validate() error
}

// Load fills spec from the environment and validates it. The error is one
// line that names the variable, suitable to print as is; it never quotes the
// value of a variable that may hold a secret.
func Load(spec Validator) error {
	if err := envconfig.Process("", spec); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("invalid configuration: %s=%q: %s", pe.KeyName, pe.Value, describeParse(pe))
		}
		return fmt.Errorf("invalid configuration: %w", err)
	}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

func describeParse(pe *envconfig.ParseError) string {
	switch pe.TypeName {
	case "Duration":
		return "want a duration such as 500ms, 30s or 2m"
	case "int", "int64", "uint64":
		return "want an integer"
	case "bool":
		return "want true or false"
	}
	var ne *strconv.NumError
	if errors.As(pe.Err, &ne) {
		return "want a number"
	}
	return "want a " + pe.TypeName
}

const usageFormat = `{{range .}}{{usage_key .}}	{{usage_default .}}	{{usage_description .}}
{{end}}`

// PrintEnv writes one line per variable of spec: name, default, meaning.
func PrintEnv(w io.Writer, spec any) error {
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	if err := envconfig.Usagef("", spec, tw, usageFormat); err != nil {
		return err
	}
	return tw.Flush()
}

// Budget is the connection-budget configuration shared by the worker (which
// enforces it) and fleetctl (which shows it).
type Budget struct {
	MaxSessions int           `envconfig:"FLEET_MAX_SESSIONS" default:"0" desc:"cap on the PostgreSQL sessions the whole fleet holds; the budget computed from the server wins when lower (0: no cap)"`
	DBReserve   int           `envconfig:"FLEET_DB_RESERVE" default:"20" desc:"sessions kept free for other applications (dashboards, APIs, psql) when computing the budget"`
	SlotsBucket string        `envconfig:"FLEET_SLOTS_BUCKET" default:"MARKETFLEET_SLOTS" desc:"NATS KV bucket of the connection slots"`
	SlotTTL     time.Duration `envconfig:"FLEET_SLOT_TTL" default:"15s" desc:"a dead worker's slot is free again after this long; renewed every TTL/5"`
}

// Validate checks the budget settings; errors name the variable.
func (b Budget) Validate() error {
	switch {
	case b.MaxSessions < 0:
		return fmt.Errorf("FLEET_MAX_SESSIONS=%d: want >= 0 (0: no cap)", b.MaxSessions)
	case b.DBReserve < 0:
		return fmt.Errorf("FLEET_DB_RESERVE=%d: want >= 0", b.DBReserve)
	case b.SlotsBucket == "" || !natsName(b.SlotsBucket):
		return fmt.Errorf("FLEET_SLOTS_BUCKET=%q: want letters, digits, - and _", b.SlotsBucket)
	case b.SlotTTL < time.Second:
		return fmt.Errorf("FLEET_SLOT_TTL=%s: want at least 1s", b.SlotTTL)
	}
	return nil
}

// SlotsConfig returns the slot table settings.
func (c Common) SlotsConfig(b Budget) slots.Config {
	return slots.Config{Bucket: b.SlotsBucket, Replicas: c.StreamReplicas, TTL: b.SlotTTL}
}

// BudgetConfig returns the budget arithmetic settings.
func (b Budget) BudgetConfig() budget.Config {
	return budget.Config{Reserve: b.DBReserve, Cap: b.MaxSessions}
}
