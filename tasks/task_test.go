package tasks

import (
	"errors"
	"strings"
	"testing"
	"time"

	"marketfleet/market"
)

var (
	jan1 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	feb1 = time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
)

func valid() Task {
	return NewCollect("AAPL", market.Interval1d, jan1, feb1, "producer@test", jan1)
}

const validJSON = `{"v":1,"kind":"collect","symbol":"AAPL","interval":"1d",` +
	`"from":"2024-01-01T00:00:00Z","to":"2024-02-01T00:00:00Z",` +
	`"requested_by":"producer@test","requested_at":"2024-01-01T00:00:00Z"}`

func TestDecodeValid(t *testing.T) {
	got, err := Decode([]byte(validJSON))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got != valid() {
		t.Fatalf("Decode = %+v, want %+v", got, valid())
	}
}

func TestDecodeRejects(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(validJSON, old, new, 1) }
	for _, tc := range []struct {
		name, in, field string
	}{
		{"empty", ``, "envelope"},
		{"not json", `hello`, "envelope"},
		{"array", `[]`, "envelope"},
		{"unknown field", replace(`"v":1,`, `"v":1,"extra":true,`), "envelope"},
		{"trailing data", validJSON + `{}`, "envelope"},
		{"too large", validJSON + strings.Repeat(" ", MaxEnvelopeBytes), "envelope"},
		{"version 0", replace(`"v":1`, `"v":0`), "v"},
		{"version 5", replace(`"v":1`, `"v":5`), "v"},
		{"repair in version 3", replace(`"v":1`, `"v":3,"repair":true`), "v"},
		{"forced in version 2", replace(`"v":1,`, `"v":2,"forced":true,`), "v"},
		{"priority in version 1", replace(`"v":1,`, `"v":1,"priority":"high",`), "v"},
		{"incremental in version 1", replace(`"v":1,`, `"v":1,"incremental":true,`), "v"},
		{"unknown priority", replace(`"v":1,`, `"v":2,"priority":"urgent",`), "priority"},
		{"incremental features", replace(`"v":1,"kind":"collect"`, `"v":2,"kind":"features","incremental":true`), "incremental"},
		{"version missing", replace(`"v":1,`, ``), "v"},
		{"malformed kind", replace(`"collect"`, `"Delete!"`), "kind"},
		{"lower-case symbol", replace(`"AAPL"`, `"aapl"`), "symbol"},
		{"empty symbol", replace(`"AAPL"`, `""`), "symbol"},
		{"sql in symbol", replace(`"AAPL"`, `"A'; DROP TABLE bars;--"`), "symbol"},
		{"long symbol", replace(`"AAPL"`, `"`+strings.Repeat("A", 25)+`"`), "symbol"},
		{"symbol with space", replace(`"AAPL"`, `"AA PL"`), "symbol"},
		{"bad interval", replace(`"1d"`, `"2d"`), "interval"},
		{"alias interval", replace(`"1d"`, `"1h"`), "interval"},
		{"to before from", replace(`"2024-02-01T00:00:00Z"`, `"2023-12-01T00:00:00Z"`), "from/to"},
		{"empty window", replace(`"2024-02-01T00:00:00Z"`, `"2024-01-01T00:00:00Z"`), "from/to"},
		{"missing from", replace(`"from":"2024-01-01T00:00:00Z",`, ``), "from/to"},
		{"ancient", replace(`"from":"2024-01-01T00:00:00Z"`, `"from":"1800-01-01T00:00:00Z"`), "from/to"},
		{"too many bars", replace(`"interval":"1d","from":"2024-01-01T00:00:00Z"`, `"interval":"1m","from":"2023-01-01T00:00:00Z"`), "from/to"},
		{"no requester", replace(`"producer@test"`, `""`), "requested_by"},
		{"control char requester", replace(`"producer@test"`, `"a\u0007b"`), "requested_by"},
		{"bad time", replace(`"2024-01-01T00:00:00Z"`, `"yesterday"`), "envelope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%s) = %v, want ErrInvalid", tc.name, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Decode(%s) = %v, want field %q", tc.name, err, tc.field)
			}
		})
	}
}

func TestAcceptsRealTickers(t *testing.T) {
	for _, s := range []string{"AAPL", "BRK-B", "^GSPC", "EURUSD=X", "7203.T", "BTC-USD", "GS2C.DE", "0P0000XTS7", "^TNX"} {
		task := valid()
		task.Symbol = s
		b, err := Encode(task)
		if err != nil {
			t.Fatalf("Encode(%s): %v", s, err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("Decode(%s): %v", s, err)
		}
	}
}

func TestMsgIDIgnoresWhoAndWhen(t *testing.T) {
	a, b := valid(), valid()
	b.RequestedBy, b.RequestedAt = "someone-else", time.Now()
	if a.MsgID() != b.MsgID() {
		t.Fatalf("MsgID differs by requester: %q vs %q", a.MsgID(), b.MsgID())
	}
	if want := "collect:AAPL:1d:2024-01-01T00:00:00Z/2024-02-01T00:00:00Z"; a.MsgID() != want {
		t.Fatalf("MsgID = %q, want %q", a.MsgID(), want)
	}
	for _, change := range []func(*Task){
		func(t *Task) { t.Symbol = "MSFT" },
		func(t *Task) { t.Interval = market.Interval1wk },
		func(t *Task) { t.From = t.From.Add(time.Second) },
		func(t *Task) { t.To = t.To.Add(time.Second) },
	} {
		c := valid()
		change(&c)
		if c.MsgID() == a.MsgID() {
			t.Fatalf("MsgID %q did not change with the task", c.MsgID())
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	in := NewCollect("^GSPC", market.Interval5m, jan1.Add(90*time.Second), jan1.Add(48*time.Hour), "demo", feb1)
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.From.Equal(in.From) || !out.To.Equal(in.To) || out.MsgID() != in.MsgID() {
		t.Fatalf("round trip changed the task: %+v -> %+v", in, out)
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	task := valid()
	task.Symbol = "bad symbol"
	if _, err := Encode(task); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode(invalid) = %v, want ErrInvalid", err)
	}
}

// A forced task is version 3; its message id carries its requested_at, so
// the same window asked again is a new task and a retried publish of the
// same one is still a duplicate; without requested_at it is refused.
func TestForcedTasks(t *testing.T) {
	plain := valid()
	forced := valid()
	forced.Forced = true
	b, err := Encode(forced)
	if err != nil || !strings.HasPrefix(string(b), `{"v":3,`) || !strings.Contains(string(b), `"forced":true`) {
		t.Fatalf("Encode(forced) = %s, %v", b, err)
	}
	got, err := Decode(b)
	forced.Version = VersionForced
	if err != nil || got != forced {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, forced)
	}
	again := forced
	again.RequestedAt = forced.RequestedAt.Add(time.Second)
	if forced.MsgID() == plain.MsgID() || forced.MsgID() == again.MsgID() || forced.MsgID() != got.MsgID() ||
		!strings.HasSuffix(forced.MsgID(), plain.MsgID()) {
		t.Fatalf("ids: plain %q, forced %q, forced again %q, decoded %q", plain.MsgID(), forced.MsgID(), again.MsgID(), got.MsgID())
	}
	forced.RequestedAt = time.Time{}
	if err := forced.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "forced") {
		t.Fatalf("forced without requested_at: %v", err)
	}
}

// A repair task is version 4, a collect task, and its message id is its
// own: a scheduled task for the same window does not swallow it.
func TestRepairTasks(t *testing.T) {
	plain := valid()
	repair := valid()
	repair.Repair = true
	b, err := Encode(repair)
	if err != nil || !strings.HasPrefix(string(b), `{"v":4,`) || !strings.Contains(string(b), `"repair":true`) {
		t.Fatalf("Encode(repair) = %s, %v", b, err)
	}
	got, err := Decode(b)
	repair.Version = VersionRepair
	if err != nil || got != repair {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, repair)
	}
	if repair.MsgID() != "repair:"+plain.MsgID() {
		t.Fatalf("ids: plain %q, repair %q", plain.MsgID(), repair.MsgID())
	}
	repair.Kind = "features"
	if err := repair.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "repair") {
		t.Fatalf("a repair features task: %v", err)
	}
}

func TestVersion2Fields(t *testing.T) {
	plain := valid()
	b, err := Encode(plain)
	if err != nil || !strings.HasPrefix(string(b), `{"v":1,`) {
		t.Fatalf("a task without version-2 fields encodes as %s (%v), want version 1", b, err)
	}
	high := valid()
	high.Priority, high.Incremental = PriorityHigh, true
	b, err = Encode(high)
	if err != nil || !strings.HasPrefix(string(b), `{"v":2,`) || !strings.Contains(string(b), `"priority":"high","incremental":true`) {
		t.Fatalf("Encode(high, incremental) = %s, %v", b, err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	high.Version = VersionPriority
	if got != high {
		t.Fatalf("round trip = %+v, want %+v", got, high)
	}
	if plain.MsgID() == high.MsgID() || !strings.HasPrefix(high.MsgID(), "high:") {
		t.Fatalf("message ids %q and %q: a high-priority task must not be a duplicate of the normal one", plain.MsgID(), high.MsgID())
	}
	inc := valid()
	inc.Incremental = true
	if inc.MsgID() != plain.MsgID() {
		t.Fatalf("incremental changed the message id: %q vs %q", inc.MsgID(), plain.MsgID())
	}
	f := NewCollect("AAPL", "1d", plain.From, plain.To, "worker", plain.RequestedAt)
	f.Kind = "features"
	if f.Validate() != nil || !strings.HasPrefix(f.MsgID(), "features:AAPL:1d:") {
		t.Fatalf("features task %+v: %v, id %q", f, f.Validate(), f.MsgID())
	}
}
