package tasks

import (
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every rejection wraps
// ErrInvalid, and that whatever it accepts survives an Encode/Decode round
// trip with the same message id.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validJSON))
	f.Add([]byte(`{"v":1,"kind":"collect","symbol":"BRK-B","interval":"1wk","from":"2020-01-01T00:00:00Z","to":"2024-01-01T00:00:00Z","requested_by":"x","requested_at":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":1,"kind":"collect","symbol":"^GSPC","interval":"1m","from":"2024-01-01T09:30:00-05:00","to":"2024-01-01T16:00:00-05:00","requested_by":"y","requested_at":"2024-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"kind":"collect","symbol":"EURUSD=X","interval":"3mo","from":"1900-01-01T00:00:00Z","to":"2199-12-31T00:00:00Z","requested_by":"z","requested_at":"2024-01-01T00:00:00Z"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"symbol":"\u0000"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		b, err := Encode(task)
		if err != nil {
			t.Fatalf("accepted task does not encode: %v (%+v)", err, task)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("re-encoded task does not decode: %v (%s)", err, b)
		}
		if again.MsgID() != task.MsgID() {
			t.Fatalf("msg id changed in round trip: %q -> %q", task.MsgID(), again.MsgID())
		}
	})
}
