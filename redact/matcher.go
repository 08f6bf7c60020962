package redact

import (
	"cmp"
	"encoding/binary"
	"slices"
	"unsafe"
)

// span is a byte range of a text to replace, with the reason.
type span struct {
	start, end int
	reason     string
	prio       int // lower wins a tie: known values, then detectors in order
}

// fragMin is the length from which a fragment of a known value is
// redacted: 16 bytes. A 16-byte piece of a random key holds at least 80
// bits (base32 and up), so it is never met by chance, and 16 bytes is
// longer than the fixed prefixes of every vendor format ("sk-ant-api03-" is
// 13), so one key's fragment is not confused with the prefix of another
// format in benign text; shorter pieces (an 8-byte "sk-proj-") would be.
// A log that truncates a key (%.24s, the first 16 characters for
// debugging) prints a fragment of at least this length. Values of 8 to 15
// bytes are only matched whole.
const fragMin = 16

// chunkLen bounds the piece of a value one index entry points into; long
// values (a PEM key registered as a known value) are cut into pieces of
// chunkLen bytes overlapping by fragMin, so that every fragment lies whole
// in one piece.
const chunkLen = 256

// maxShared bounds the index entries of one 8-byte word.
const maxShared = 8

// chunk is a piece of a known value.
type chunk struct {
	text  string // the piece
	value string // the whole value (text itself when it fits one chunk)
	label string
}

// matcher finds known values, and fragments of them, in text. It is
// immutable once built.
//
// Every 8-byte word of every chunk, at every offset, is indexed. With step
// = min(fragMin, shortest value) − 7, any occurrence of a value or of a
// fragment of fragMin bytes covers a text offset that is a multiple of step
// where one of its words starts: the scan reads one 64-bit word every step
// bytes and tests two bits of one word of a filter (about 3% false
// positives); only on a hit does it look the word up, and then extends the
// match byte by byte both ways. The work per byte of text is the same for one value and
// for ten thousand.
type matcher struct {
	chunks []chunk
	// least is the shortest text find can report: the shortest value, or
	// fragMin when every value is longer. A decoded run shorter than least
	// cannot hold a value, so it is not decoded.
	least  int
	filter []uint64 // bitset of nbits bits
	nbits  uint64
	step   int
	// index is an open-addressing hash table (linear probing, at most three
	// quarters full) of 8-byte entries: the high 32 bits of the word's hash
	// (never 0), then chunk+1 (24 bits) and the offset (8 bits).
	index []uint64
	// bytes is every byte value the chunks hold: a value lies whole in a
	// run of them.
	bytes byteSet
}

// reduce maps the 32-bit hash x onto [0, n) (Lemire's multiply-shift), so
// that tables need not be powers of two.
func reduce(x uint32, n uint64) uint64 { return uint64(x) * n >> 32 }

const (
	mul1 = 0x9E3779B97F4A7C15
	mul2 = 0xC2B2AE3D27D4EB4F
)

// word reads the 8 bytes of s at i as one little-endian word.
func word(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(bytesOf(s)[i:])
}

// bytesOf views s as bytes without copying. The bytes are only read.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// chunksOf cuts a value into its chunks.
func chunksOf(v, label string, out []chunk) []chunk {
	if len(v) <= chunkLen {
		return append(out, chunk{v, v, label})
	}
	for i := 0; ; i += chunkLen - fragMin {
		end := min(len(v), i+chunkLen)
		out = append(out, chunk{v[i:end], v, label})
		if end == len(v) {
			return out
		}
	}
}

func newMatcher(chunks []chunk) *matcher {
	m := &matcher{chunks: chunks, step: fragMin - 7, least: fragMin}
	n := 0
	for _, c := range chunks {
		m.least = min(m.least, len(c.value))
		if len(c.value) < fragMin && len(c.value)-7 < m.step {
			m.step = len(c.value) - 7
		}
		n += len(c.text) - 7
	}
	if m.step < 1 {
		m.step = 1
	}
	// 12 filter bits an entry (about 3% false hits with two bits in one word); an
	// index at most three quarters full.
	m.nbits = uint64(max(1024, 12*n)+63) &^ 63
	m.filter = make([]uint64, m.nbits/64)
	size := uint64(4*n/3 + 16)
	m.index = make([]uint64, size)
	for ci, c := range chunks {
		for i := 0; i < len(c.text); i++ {
			m.bytes.add(c.text[i])
		}
		for off := 0; off+8 <= len(c.text); off++ {
			w := word(c.text, off)
			slot, tag := hashes(w)
			// A word shared by many values (a vendor prefix: "sk-proj-")
			// is indexed for the first maxShared of them only, so that no
			// probe walks a long run of it; each value is still found by
			// its own words.
			j := reduce(slot, size)
			same := 0
			for m.index[j] != 0 {
				if e := m.index[j]; e>>32 == tag {
					if c := &chunks[int(e>>8&0xFFFFFF)-1]; word(c.text, int(e&0xFF)) == w {
						same++
					}
				}
				if j++; j == size {
					j = 0
				}
			}
			if same >= maxShared {
				continue
			}
			m.index[j] = tag<<32 | uint64(ci+1)<<8 | uint64(off)
			blk, bits := m.filterBits(w)
			m.filter[blk] |= bits
		}
	}
	return m
}

// hashes returns two independent 32-bit hashes of w, from the high halves
// of two multiplications (the low half of a product depends only on the
// low bytes of w, which keys of one vendor share): where the index looks
// for w, and the tag its entries carry (never 0).
func hashes(w uint64) (slot uint32, tag uint64) {
	slot = uint32((w * mul2) >> 32)
	tag = (w * mul1) >> 32
	if tag == 0 {
		tag = 1
	}
	return slot, tag
}

func next(j, size uint64) uint64 {
	if j++; j == size {
		return 0
	}
	return j
}

// filterBits returns the filter word of w and the two bits it sets there,
// from one multiplication: the word from the high bits of the product's
// high half, the bits from its low bits (a blocked Bloom filter: one load
// a probe).
func (m *matcher) filterBits(w uint64) (blk uint64, bits uint64) {
	h := uint32((w * mul1) >> 32)
	return reduce(h, uint64(len(m.filter))), 1<<(h&63) | 1<<(h>>6&63)
}

// maybe tests the filter for the word w.
func (m *matcher) maybe(w uint64) bool {
	blk, bits := m.filterBits(w)
	return m.filter[blk]&bits == bits
}

// verify appends the chunks indexed by w whose text, or a fragment of
// fragMin bytes of it, occurs in s around i. dead holds removed values.
func (m *matcher) verify(s string, i int, w uint64, dead map[string]bool, out []span) []span {
	size := uint64(len(m.index))
	slot, tag := hashes(w)
	for j := reduce(slot, size); m.index[j] != 0; j = next(j, size) {
		e := m.index[j]
		if e>>32 != tag {
			continue
		}
		c := &m.chunks[int(e>>8&0xFFFFFF)-1]
		off := int(e & 0xFF)
		if word(c.text, off) != w {
			continue
		}
		// Extend both ways as far as text and chunk agree.
		a, b := i, off
		for a > 0 && b > 0 && s[a-1] == c.text[b-1] {
			a--
			b--
		}
		e2, f := i+8, off+8
		for e2 < len(s) && f < len(c.text) && s[e2] == c.text[f] {
			e2++
			f++
		}
		whole := b == 0 && f == len(c.text)
		if !(whole && len(c.text) == len(c.value)) && (len(c.value) < fragMin || e2-a < fragMin) {
			continue
		}
		if dead != nil && dead[c.value] {
			continue
		}
		out = append(out, span{a, e2, "known:" + c.label, -1})
	}
	return out
}

// find appends the spans of m's values in s; with first, it stops at the
// first.
func (m *matcher) find(s string, dead map[string]bool, out []span, first bool) []span {
	if m == nil || len(m.chunks) == 0 {
		return out
	}
	b := bytesOf(s)
	end := 0 // the end of the last span: a hit inside it is not looked at
	for i := 0; i+8 <= len(b); i += m.step {
		w := binary.LittleEndian.Uint64(b[i:])
		if i+8 <= end || !m.maybe(w) {
			continue
		}
		n := len(out)
		out = m.verify(s, i, w, dead, out)
		for _, sp := range out[n:] {
			end = max(end, sp.end)
		}
		if first && len(out) > n {
			return out
		}
	}
	return out
}

// merge sorts spans and merges overlapping ones (the first reason wins).
func merge(sp []span) []span {
	if len(sp) < 2 {
		return sp
	}
	slices.SortFunc(sp, func(a, b span) int {
		if a.start != b.start {
			return cmp.Compare(a.start, b.start)
		}
		if a.end != b.end {
			return cmp.Compare(b.end, a.end)
		}
		return cmp.Compare(a.prio, b.prio)
	})
	out := sp[:1]
	for _, s := range sp[1:] {
		last := &out[len(out)-1]
		if s.start < last.end {
			if s.end > last.end {
				last.end = s.end
			}
			continue
		}
		out = append(out, s)
	}
	return out
}
