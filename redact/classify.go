package redact

import (
	"math/bits"
	"unsafe"
)

// A text is classified once, 64 bytes at a time, into two bit masks: bit i
// of word k of the first is set when byte 64k+i may start a detector's
// keyword — it is an anchor byte and both its neighbours may stand beside
// it in a keyword — and bit i of the second when the byte may belong to a
// run (base64, hex, a known value's bytes). The scan then visits only the
// set bits (math/bits.TrailingZeros) instead of making one
// strings.IndexByte pass per anchor byte and stopping at each occurrence,
// and finds long runs with a few shifts a word instead of a test a byte.
//
// Membership is the nibble-table test of Hyperscan's "shufti": a byte x
// is in bucket j of a table pair when bit j of lo[x&15] & hi[x>>4] is set.
// The anchors are spread over eight buckets; bucket j also has the bytes
// that may come before (B) and after (F) its anchors, and a byte is a
// candidate when, for some j, it is in A_j, the byte before it in B_j and
// the byte after it in F_j. Each table pair holds a product of nibble sets
// per bucket, a superset of the bytes put in it, and the scan checks every
// candidate exactly (detectors.candidate): a superset costs a look, never
// a miss. The run set has one bucket per high nibble (mod 8), so it is
// exact for ASCII. On amd64 with AVX2 the test runs 32 bytes an
// instruction (classify_amd64.s); elsewhere it is the same formula in Go,
// a table lookup a byte.

// byteSet is a set of byte values.
type byteSet [4]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) fill()           { *s = allBytes }

// allBytes is the set of every byte value.
var allBytes = byteSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

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

// classTables are the nibble tables: anchors (A), the bytes before (B)
// and after (F) them, and run bytes (R), each 16-byte table stored twice
// (one copy per 128-bit lane of an AVX2 register), then the nibble mask,
// the escape table (esc[x&15] is the escape byte whose low nibble is x&15,
// or a byte of another low nibble, so that x is an escape byte exactly
// when it equals esc[x&15]) and 32 zero bytes. The layout is read by
// classify_amd64.s.
type classTables struct {
	loA, hiA, loB, hiB, loF, hiF, loR, hiR, nib, esc, zero [32]byte
	// kx and ky (each byte of) are the kill pair: an anchor kx followed
	// by ky is no candidate. Without a kill pair kx is a byte no bucket
	// has, so that the test kills nothing.
	kx, ky [32]byte
	kill   killPair
	// generic is set when no byte is free to stand for "no kill pair"
	// (every byte an anchor): the portable classifier is used.
	generic bool
	// The test's result for each byte value (the portable classifier's
	// lookups): the buckets of A, B, F, and 1 for R; ar has bit 0 for
	// any bucket of A, bit 1 for R and bit 2 for an escape byte.
	a, b, f, r, ar [256]uint8
}

// escapeBytes start the escapes that known values are unescaped from
// (URL escapes, JSON and Go escapes, '+' for a space): a text without any
// of them skips those passes. Their low nibbles differ.
const escapeBytes = "%\\+"

// bucketSets are the byte sets of one bucket of the candidate test.
type bucketSets struct{ a, b, f byteSet }

// killPair is an anchor byte (at) that is no candidate when the byte after
// it is next, whatever the buckets say: the nibble tables cannot leave
// one byte out of a bucket's F, and ":" followed by "/" (every URL's
// scheme) is, in links, most of the ':' that reach the exact test
// otherwise.
type killPair struct {
	at, next byte
	ok       bool
}

// newClassTables builds the tables of up to eight candidate buckets, the
// kill pair and the run set.
func newClassTables(buckets []bucketSets, run *byteSet, kill killPair) *classTables {
	t := &classTables{kill: kill}
	kx, ky := kill.at, kill.next
	if !kill.ok {
		var anchors byteSet
		for _, bk := range buckets {
			anchors.union(&bk.a)
		}
		t.generic = true
		for c := 0; c < 256; c++ {
			if !anchors.has(byte(c)) {
				kx, t.generic = byte(c), false
				break
			}
		}
	}
	for i := range t.kx {
		t.kx[i], t.ky[i] = kx, ky
	}
	put := func(set *byteSet, bit byte, lo, hi *[32]byte) {
		for c := 0; c < 256; c++ {
			if set.has(byte(c)) {
				lo[c&15] |= bit
				lo[16+c&15] |= bit
				hi[c>>4] |= bit
				hi[16+c>>4] |= bit
			}
		}
	}
	for j, bk := range buckets {
		bit := byte(1) << j
		put(&bk.a, bit, &t.loA, &t.hiA)
		put(&bk.b, bit, &t.loB, &t.hiB)
		put(&bk.f, bit, &t.loF, &t.hiF)
	}
	for c := 0; c < 256; c++ {
		if run.has(byte(c)) {
			bit := byte(1) << (c >> 4 & 7)
			t.loR[c&15] |= bit
			t.loR[16+c&15] |= bit
			t.hiR[c>>4] |= bit
			t.hiR[16+c>>4] |= bit
		}
	}
	for i := range t.nib {
		t.nib[i] = 0x0F
		t.esc[i] = byte(i&15^1) | 0xF0 // matches no byte of low nibble i
	}
	for _, c := range []byte(escapeBytes) {
		t.esc[c&15], t.esc[16+c&15] = c, c
	}
	for c := range 256 {
		t.a[c] = t.loA[c&15] & t.hiA[c>>4]
		t.b[c] = t.loB[c&15] & t.hiB[c>>4]
		t.f[c] = t.loF[c&15] & t.hiF[c>>4]
		if t.loR[c&15]&t.hiR[c>>4] != 0 {
			t.r[c] = 1
			t.ar[c] = 2
		}
		if t.a[c] != 0 {
			t.ar[c] |= 1
		}
	}
	for _, c := range []byte(escapeBytes) {
		t.ar[c] |= 4
	}
	return t
}

// classifyGeneric is the portable classifier of s[from:to) (to-from a
// multiple of 64): out gets, for each 64 bytes, the candidate mask and the
// run mask. The bytes before s and after it read as 0. esc reports an
// escape byte in s[from:to).
func classifyGeneric(s string, from, to int, t *classTables, out []uint64) (esc bool) {
	var escs uint64
	for k := from; k < to; k += 64 {
		blk := s[k : k+64]
		// First the anchor bytes and the run bytes, eight bytes a step:
		// their two bits (t.ar) in the lanes of a word, gathered by a
		// multiplication.
		var ma, mr uint64
		for j := 0; j < 64; j += 8 {
			b := blk[j : j+8]
			x := uint64(t.ar[b[0]]) | uint64(t.ar[b[1]])<<8 | uint64(t.ar[b[2]])<<16 | uint64(t.ar[b[3]])<<24 |
				uint64(t.ar[b[4]])<<32 | uint64(t.ar[b[5]])<<40 | uint64(t.ar[b[6]])<<48 | uint64(t.ar[b[7]])<<56
			const lanes, gather = 0x0101010101010101, 0x0102040810204080
			ma |= ((x & lanes) * gather >> 56) << j
			mr |= ((x >> 1 & lanes) * gather >> 56) << j
			escs |= x
		}
		// Then the neighbours of the few anchor bytes.
		for m := ma; m != 0; m &= m - 1 {
			i := bits.TrailingZeros64(m)
			var prev, next byte
			if k+i > 0 {
				prev = s[k+i-1]
			}
			if k+i+1 < len(s) {
				next = s[k+i+1]
			}
			if t.a[blk[i]]&t.b[prev]&t.f[next] == 0 || t.kill.ok && blk[i] == t.kill.at && next == t.kill.next {
				ma &^= 1 << i
			}
		}
		w := (k - from) / 32
		out[w], out[w+1] = ma, mr
	}
	return escs&0x0404040404040404 != 0
}

// classify fills out (2 words per 64 bytes of s, rounded up) with the
// masks of s. Bits past the end of s are clear. esc reports whether s may
// hold an escape byte (escapeBytes): it is never false when s holds one,
// and may be true for a byte just past s.
func classify(s string, t *classTables, out []uint64) (esc bool) {
	if len(s) == 0 {
		return false
	}
	avx2 := hasAVX2 && !t.generic
	if avx2 && inPages(s) {
		return classifyInPlace(s, t, out)
	}
	if avx2 {
		return classifyPadded(s, t, out)
	}
	return classifyPortable(s, t, out)
}

// classifyPadded is classify with the kernel on padded copies of the
// first and last blocks (a text at the edge of a page).
func classifyPadded(s string, t *classTables, out []uint64) (esc bool) {
	if len(s) < 128 {
		// One or two blocks: one call on a padded copy (zeros around).
		var pad [128 + 2]byte
		copy(pad[1:], s)
		n := (len(s) + 63) &^ 63
		esc = classifyAVX2(&pad[1], n, t, &out[0])
		if rest := len(s) & 63; rest > 0 {
			keep := uint64(1)<<rest - 1
			out[n/32-2] &= keep
			out[n/32-1] &= keep
		}
		return esc
	}
	b := bytesOf(s)
	// The kernel reads one byte on each side of what it classifies: the
	// first and last blocks go through a padded copy.
	var pad [64 + 2]byte
	copy(pad[1:], b[:65])
	esc = classifyAVX2(&pad[1], 64, t, &out[0])
	mid := 64 + (len(b)-1-64)/64*64 // [64, mid) has a byte after it
	if mid > 64 {
		esc = classifyAVX2(&b[64], mid-64, t, &out[2]) || esc
	}
	rest := len(b) - mid // 1..64
	pad = [64 + 2]byte{}
	pad[0] = b[mid-1]
	copy(pad[1:], b[mid:])
	esc = classifyAVX2(&pad[1], 64, t, &out[mid/32]) || esc
	keep := ^uint64(0)
	if rest < 64 {
		keep = uint64(1)<<rest - 1
	}
	out[mid/32] &= keep
	out[mid/32+1] &= keep
	return esc
}

// inPages reports whether the kernel may read s in place: from the byte
// before s to the byte after its last 64-byte block, all in the pages s
// is in. (Memory is mapped a page at a time: a read that stays in a page
// of s cannot fault, whatever lies around s there.)
func inPages(s string) bool {
	const page = 4096
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	full := uintptr(len(s)+63) &^ 63
	return p%page != 0 && (p+uintptr(len(s))-1)/page == (p+full)/page
}

// classifyInPlace is classify of s in place (inPages(s)): one call, then
// the bits that read the bytes around s are made as if those were zeros.
func classifyInPlace(s string, t *classTables, out []uint64) (esc bool) {
	n := len(s)
	full := (n + 63) &^ 63
	esc = classifyAVX2(unsafe.StringData(s), full, t, &out[0])
	if rest := n & 63; rest > 0 {
		keep := uint64(1)<<rest - 1
		out[full/32-2] &= keep
		out[full/32-1] &= keep
	}
	// The first byte was tested with the byte before s, the last with the
	// byte after it: again with zeros.
	at := func(i int) byte {
		if i < 0 || i >= n {
			return 0
		}
		return s[i]
	}
	for _, i := range [2]int{0, n - 1} {
		c, next := s[i], at(i+1)
		bit := uint64(1) << (i % 64)
		w := &out[i/64*2]
		*w &^= bit
		if t.a[c]&t.b[at(i-1)]&t.f[next] != 0 && !(t.kill.ok && c == t.kill.at && next == t.kill.next) {
			*w |= bit
		}
	}
	return esc
}

// classifyPortable is classify in Go, without the kernel.
func classifyPortable(s string, t *classTables, out []uint64) (esc bool) {
	full := len(s) &^ 63
	esc = classifyGeneric(s, 0, full, t, out)
	if rest := len(s) - full; rest > 0 {
		var tail [64 + 1]byte // the text's last byte before, zeros after
		if full > 0 {
			tail[0] = s[full-1]
		}
		copy(tail[1:], s[full:])
		var w [2]uint64
		// Zeros are no escape byte: esc is about s alone.
		esc = classifyGeneric(unsafeString(tail[:]), 1, 65, t, w[:]) || esc
		// The padded block reads one byte past the text: 0, as in
		// classifyGeneric; the mask past the end is dropped.
		keep := uint64(1)<<rest - 1
		out[full/32], out[full/32+1] = w[0]&keep, w[1]&keep
	}
	return esc
}
