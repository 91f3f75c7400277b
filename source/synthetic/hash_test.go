package synthetic

import "testing"

func TestFNV1a(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
		{"foobar", 0x85944171f73967e8},
	} {
		if got := fnv1a(tc.in); got != tc.want {
			t.Errorf("fnv1a(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestSplitmix64(t *testing.T) {
	// Reference outputs of SplitMix64 seeded with 0: the generator adds the
	// golden gamma to its state before each finalisation.
	const gamma = 0x9e3779b97f4a7c15
	for _, tc := range []struct {
		state uint64
		want  uint64
	}{
		{0, 0xe220a8397b1dcdaf},
		{gamma, 0x6e789e6aa1b965f4},
		{0x3c6ef372fe94f82a, 0x06c45d188009454f}, // 2*gamma mod 2^64,
	} {
		if got := splitmix64(tc.state); got != tc.want {
			t.Errorf("splitmix64(%#x) = %#x, want %#x", tc.state, got, tc.want)
		}
	}
}

func TestUnitAndSignedRanges(t *testing.T) {
	for _, h := range []uint64{0, 1, 1 << 11, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		if u := unit(h); u < 0 || u >= 1 {
			t.Errorf("unit(%#x) = %v, want [0,1)", h, u)
		}
		if s := signed(h); s < -1 || s >= 1 {
			t.Errorf("signed(%#x) = %v, want [-1,1)", h, s)
		}
	}
	if got := unit(^uint64(0)); got != 1-1.0/(1<<53) {
		t.Errorf("unit(max) = %v, want 1-2^-53", got)
	}
}

func TestFloorDiv(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{
		{0, 60, 0},
		{59, 60, 0},
		{60, 60, 1},
		{-1, 60, -1},
		{-60, 60, -1},
		{-61, 60, -2},
	} {
		if got := floorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
