package redact

// A text is classified once, 64 bytes at a time, into two bit masks: bit i
// of word k of the first is set when byte 64k+i may be an anchor byte of a
// detector keyword, of the second when it may belong to a run (a base64
// run, or a known value's bytes). The scan then visits only the set bits
// (math/bits.TrailingZeros) instead of making one strings.IndexByte pass
// per anchor byte, and finds long runs with a few shifts per word instead
// of a test per byte.
//
// Membership is the nibble-table test of Hyperscan's "shufti":
// lo[b&15] & hi[b>>4] != 0. Each byte of a set is given the bucket bit of
// its high nibble modulo 8, so a set of ASCII bytes is tested exactly and
// a set with bytes above 0x7F may also flag bytes that share a bucket (a
// superset); every consumer checks the byte itself, so a superset costs a
// look, never a miss. On amd64 with AVX2 the test runs 32 bytes an
// instruction (classify_amd64.s); elsewhere it is the same formula in Go.

// byteSet is a set of byte values.
type byteSet [4]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) union(o *byteSet) {
	for i := range s {
		s[i] |= o[i]
	}
}

func (s *byteSet) addClass(c *class) {
	for i := range c {
		if c[i] {
			s.add(byte(i))
		}
	}
}

// classTables are the nibble tables of two byte sets, each 16-byte table
// stored twice (one copy per 128-bit lane of an AVX2 register), then the
// nibble mask.
type classTables struct {
	lo1, hi1, lo2, hi2, nib [32]byte
	// both[c] is the test's result for byte c: bit 0 the first set, bit 1
	// the second (the portable classifier's one lookup a byte).
	both [256]uint8
}

func newClassTables(first, second *byteSet) *classTables {
	t := &classTables{}
	fill := func(set *byteSet, lo, hi *[32]byte) {
		for c := 0; c < 256; c++ {
			if !set.has(byte(c)) {
				continue
			}
			bit := byte(1) << (c >> 4 & 7)
			lo[c&15] |= bit
			lo[16+c&15] |= bit
			hi[c>>4] |= bit
			hi[16+c>>4] |= bit
		}
	}
	fill(first, &t.lo1, &t.hi1)
	fill(second, &t.lo2, &t.hi2)
	for i := range t.nib {
		t.nib[i] = 0x0F
	}
	for c := range t.both {
		if t.lo1[c&15]&t.hi1[c>>4] != 0 {
			t.both[c] |= 1
		}
		if t.lo2[c&15]&t.hi2[c>>4] != 0 {
			t.both[c] |= 2
		}
	}
	return t
}

// classifyGeneric is the portable classifier: for each 64-byte block of
// src (len(src) a multiple of 64), out gets the block's mask of the first
// set, then of the second.
func classifyGeneric(src []byte, t *classTables, out []uint64) {
	for k := 0; k+64 <= len(src); k += 64 {
		var m1, m2 uint64
		for j := 0; j < 64; j += 8 {
			// The eight bytes' results in the lanes of one word, then bit 0
			// and bit 1 of every lane gathered by a multiplication.
			b := src[k+j : k+j+8]
			x := uint64(t.both[b[0]]) | uint64(t.both[b[1]])<<8 | uint64(t.both[b[2]])<<16 | uint64(t.both[b[3]])<<24 |
				uint64(t.both[b[4]])<<32 | uint64(t.both[b[5]])<<40 | uint64(t.both[b[6]])<<48 | uint64(t.both[b[7]])<<56
			const lanes, gather = 0x0101010101010101, 0x0102040810204080
			m1 |= ((x & lanes) * gather >> 56) << j
			m2 |= ((x >> 1 & lanes) * gather >> 56) << j
		}
		out[k/32], out[k/32+1] = m1, m2
	}
}

// classify fills out (2 words per 64 bytes of s, rounded up) with the
// masks of s. Bits past the end of s are clear.
func classify(s string, t *classTables, out []uint64) {
	b := bytesOf(s)
	full := len(b) &^ 63
	if full > 0 {
		classifyBlocks(b[:full], t, out)
	}
	if rest := len(b) - full; rest > 0 {
		var tail [64]byte
		copy(tail[:], b[full:])
		classifyBlocks(tail[:], t, out[full/32:])
		keep := uint64(1)<<rest - 1
		out[full/32] &= keep
		out[full/32+1] &= keep
	}
}
