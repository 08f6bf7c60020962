package redact

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"net/url"
	"sort"
	"strings"
	"unsafe"
)

// span is a byte range of a text to replace, with the reason.
type span struct {
	start, end int
	reason     string
	prio       int // lower wins a tie: known values, then detectors in order
}

// pattern is one encoded form of one known value.
type pattern struct {
	text   string
	reason string
}

// matcher finds known values in their encoded forms. It is immutable once
// built: a Redactor swaps whole matchers.
//
// Every pattern is at least 8 bytes long. With step = (shortest pattern) −
// 7, capped at 16, any occurrence of a pattern covers a text offset that is
// a multiple of step where one of the pattern's last step 8-byte words
// starts; so each pattern is indexed by those words, and the scan reads one
// 64-bit word every step bytes and tests two bits of a filter sized to the
// number of index entries (about 1.4% false positives); only on a hit does
// it look the word up and compare. The work per byte is the same for one
// value and for ten thousand: no loop over values, no big alternation.
type matcher struct {
	filter []uint64 // bitset
	shift  uint
	step   int
	// index is an open-addressing hash table (linear probing, at most two
	// thirds full) of the indexed words: 16 bytes an entry, where a Go map
	// of slices took about 80.
	index     []entry
	indexBits uint
	pats      []pattern
}

// entry says that the indexed word w starts off bytes into pattern pat-1;
// pat 0 marks an empty slot.
type entry struct {
	w   uint64
	pat int32
	off int32
}

const (
	mul1 = 0x9E3779B97F4A7C15
	mul2 = 0xC2B2AE3D27D4EB4F
)

// word reads the 8 bytes of s at i as one little-endian word (one load on
// the architectures that allow unaligned loads).
func word(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(bytesOf(s)[i:])
}

// bytesOf views s as bytes without copying. The bytes are only read.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func newMatcher(pats []pattern) *matcher {
	m := &matcher{pats: pats, step: 16}
	for _, p := range pats {
		if st := len(p.text) - 7; st < m.step {
			m.step = st
		}
	}
	if m.step < 1 {
		m.step = 1
	}
	nbits := 1 << 10
	for nbits < 16*m.step*len(pats) {
		nbits <<= 1
	}
	m.filter = make([]uint64, nbits/64)
	m.shift = uint(64 - bits.TrailingZeros(uint(nbits)))
	m.indexBits = 4
	for 2*(1<<m.indexBits) < 3*m.step*len(pats) {
		m.indexBits++
	}
	m.index = make([]entry, 1<<m.indexBits)
	mask := len(m.index) - 1
	for i, p := range pats {
		// Index the last step words of the pattern rather than the first:
		// keys of one vendor share their first bytes ("sk-proj-"), so their
		// heads would all land in one bucket, while their tails are random.
		d := len(p.text) - 7 - m.step
		for off := d; off < d+m.step; off++ {
			w := word(p.text, off)
			j := m.slot(w)
			for m.index[j].pat != 0 {
				j = (j + 1) & mask
			}
			m.index[j] = entry{w, int32(i + 1), int32(off)}
			h1, h2 := (w*mul1)>>m.shift, (w*mul2)>>m.shift
			m.filter[h1>>6] |= 1 << (h1 & 63)
			m.filter[h2>>6] |= 1 << (h2 & 63)
		}
	}
	return m
}

// maybe tests the filter for the word w.
func (m *matcher) maybe(w uint64) bool {
	h1 := (w * mul1) >> m.shift
	if m.filter[h1>>6]&(1<<(h1&63)) == 0 {
		return false
	}
	h2 := (w * mul2) >> m.shift
	return m.filter[h2>>6]&(1<<(h2&63)) != 0
}

// slot is where the index starts looking for w.
func (m *matcher) slot(w uint64) int { return int((w * mul2) >> (64 - m.indexBits)) }

// verify appends the patterns indexed by w that occur in s around i.
func (m *matcher) verify(s string, i int, w uint64, out []span) []span {
	mask := len(m.index) - 1
	for j := m.slot(w); m.index[j].pat != 0; j = (j + 1) & mask {
		e := m.index[j]
		if e.w != w {
			continue
		}
		p := m.pats[e.pat-1]
		start := i - int(e.off)
		if start >= 0 && strings.HasPrefix(s[start:], p.text) {
			out = append(out, span{start, start + len(p.text), p.reason, -1})
		}
	}
	return out
}

// encodings returns the forms a value travels in: raw; base64 standard and
// URL-safe (the core of the encoding at each of the three alignments, so
// that the value is found inside the encoding of a longer text, such as a
// Basic auth header or a JSON blob, and the whole encoding, padded and
// not); hex in both cases; URL query and path escaping; JSON string
// escaping. Forms shorter than 8 bytes are dropped.
func encodings(v string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if len(s) >= 8 && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString([]byte(v)))
		add(enc.WithPadding(base64.NoPadding).EncodeToString([]byte(v)))
		for k := 0; k < 3; k++ {
			e := enc.WithPadding(base64.NoPadding).EncodeToString([]byte(strings.Repeat("\x00", k) + v))
			// Drop the characters that mix in the neighbouring bytes: the
			// ones covering the k prefix bytes, and the last two.
			from := (k*8 + 5) / 6
			if k == 0 {
				from = 0
			}
			to := len(e) - 2
			if to > from {
				add(e[from:to])
			}
		}
	}
	add(hex.EncodeToString([]byte(v)))
	add(strings.ToUpper(hex.EncodeToString([]byte(v))))
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	if b, err := json.Marshal(v); err == nil {
		add(string(b[1 : len(b)-1]))
	}
	return out
}

// merge sorts spans and merges overlapping ones (the first reason wins).
func merge(sp []span) []span {
	if len(sp) < 2 {
		return sp
	}
	sort.Slice(sp, func(i, j int) bool {
		if sp[i].start != sp[j].start {
			return sp[i].start < sp[j].start
		}
		if sp[i].end != sp[j].end {
			return sp[i].end > sp[j].end
		}
		return sp[i].prio < sp[j].prio
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
