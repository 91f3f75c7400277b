package main

import (
	"reflect"
	"strings"
	"testing"

	"marketfleet/cmd/internal/cli"
)

// Every variable the worker reads but owns no default for is bound to a
// field of worker.Config, and no two variables set the same field.
func TestEveryVariableIsBoundToItsOwnField(t *testing.T) {
	e := newEnv()
	seen := map[uintptr]string{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			name := sf.Tag.Get("envconfig")
			var addr uintptr
			switch {
			case f.Type() == reflect.TypeFor[cli.Not]():
				addr = reflect.ValueOf(f.Interface().(cli.Not).P).Pointer()
			case f.Kind() == reflect.Pointer:
				addr = f.Pointer()
			case f.Kind() == reflect.Struct && sf.Anonymous:
				walk(f)
				continue
			default:
				if name != "" && sf.Tag.Get("default") == "" && !strings.HasPrefix(name, "FLEET_NATS_") {
					t.Errorf("%s is a plain field without a default: bind it to worker.Config", name)
				}
				continue
			}
			if addr == 0 {
				t.Errorf("%s is bound to nothing", name)
				continue
			}
			if other, dup := seen[addr]; dup {
				t.Errorf("%s and %s set the same field", name, other)
			}
			seen[addr] = name
		}
	}
	walk(reflect.ValueOf(e).Elem())
	if len(seen) < 30 {
		t.Fatalf("only %d bound variables found: the walk is broken", len(seen))
	}
}

// An invalid value is reported with the variable's name, whichever library
// refuses it.
func TestInvalidValuesNameTheirVariable(t *testing.T) {
	for v, value := range map[string]string{
		"FLEET_BATCH_SIZE": "0", "FLEET_PIPELINE": "9", "FLEET_FETCH_CONCURRENCY": "0", "FLEET_FETCH_WAIT": "10ms",
		"FLEET_ACK_WAIT": "10ms", "FLEET_MAX_DELIVER": "0", "FLEET_MAX_ACK_PENDING": "1", "FLEET_SOURCE": "bloomberg",
		"FLEET_SOURCE_RATE": "-1", "FLEET_SOURCE_BURST": "-1", "FLEET_SYNTHETIC_LATENCY": "-1s", "FLEET_RETRY_BASE": "1ms",
		"FLEET_RETRY_MAX": "1s", "FLEET_STATEMENT_TIMEOUT": "1ms", "FLEET_WRITE_TIMEOUT": "10ms", "FLEET_SHUTDOWN_GRACE": "1s",
		"FLEET_WORKER_ID": "a b", "FLEET_STREAM": "a.b", "FLEET_STREAM_REPLICAS": "6", "FLEET_STREAM_MAX_BYTES": "10",
		"FLEET_DEDUP_WINDOW": "1ms", "FLEET_DLQ_STREAM": "MARKETFLEET_TASKS", "FLEET_DLQ_MAX_AGE": "1m",
		"FLEET_MAX_SESSIONS": "-1", "FLEET_DB_RESERVE": "-1", "FLEET_SLOTS_BUCKET": "a b", "FLEET_SLOT_TTL": "10ms",
		"FLEET_CONSUMER": "a.b", "FLEET_GC_PERCENT": "1", "FLEET_SYNTHETIC_ACTIONS": "AAPL:split:2024-06-03:0:1",
		"FLEET_SETTLE_SESSIONS": "21", "FLEET_SETTLE_INTRADAY": "-1s", "FLEET_AUDIT_GRACE": "-1s",
	} {
		t.Run(v, func(t *testing.T) {
			t.Setenv(v, value)
			_, _, err := load()
			if err == nil || !strings.Contains(err.Error(), v+"=") {
				t.Fatalf("%s=%s: load = %v, want an error naming %s", v, value, err, v)
			}
		})
	}
}
