package synthetic

// FNV-1a 64-bit parameters.
const (
	fnvOffset64 uint64 = 14695981039346656037
	fnvPrime64  uint64 = 1099511628211
)

// fnv1a returns the FNV-1a 64-bit hash of s.
func fnv1a(s string) uint64 {
	h := fnvOffset64
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// splitmix64 is the finaliser of the SplitMix64 generator: a bijective mix
// of x with good avalanche.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mix hashes a and b into one word; mix(a, b) != mix(b, a) in general.
func mix(a, b uint64) uint64 {
	return splitmix64(splitmix64(a) ^ b)
}

// unit maps h to a float64 in [0, 1) using its top 53 bits.
func unit(h uint64) float64 {
	return float64(h>>11) / (1 << 53)
}

// signed maps h to a float64 in [-1, 1).
func signed(h uint64) float64 {
	return 2*unit(h) - 1
}
