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
)

// span is a byte range of a text to replace, with the reason.
type span struct {
	start, end int
	reason     string
}

// pattern is one encoded form of one known value.
type pattern struct {
	text   string
	reason string
}

// matcher finds known values in their encoded forms. It is immutable once
// built: a Redactor swaps whole matchers.
//
// Every pattern is at least 8 bytes long, so each is anchored by its first
// 8 bytes read as one 64-bit word. The scan reads the word at every offset
// of the text and tests two bits of a filter sized to the number of
// patterns (16 bits per pattern, so about 1.4% false positives); only on a
// hit does it look the word up and compare. The work per byte is the same
// for one value and for ten thousand — no loop over values, no big
// alternation.
type matcher struct {
	filter []uint64 // bitset
	shift  uint
	byWord map[uint64][]int32
	pats   []pattern
}

const (
	mul1 = 0x9E3779B97F4A7C15
	mul2 = 0xC2B2AE3D27D4EB4F
)

func newMatcher(pats []pattern) *matcher {
	m := &matcher{byWord: make(map[uint64][]int32, len(pats)), pats: pats}
	nbits := 1 << 10
	for nbits < 16*len(pats) {
		nbits <<= 1
	}
	m.filter = make([]uint64, nbits/64)
	m.shift = uint(64 - bits.TrailingZeros(uint(nbits)))
	for i, p := range pats {
		w := binary.LittleEndian.Uint64([]byte(p.text[:8]))
		m.byWord[w] = append(m.byWord[w], int32(i))
		h1, h2 := (w*mul1)>>m.shift, (w*mul2)>>m.shift
		m.filter[h1>>6] |= 1 << (h1 & 63)
		m.filter[h2>>6] |= 1 << (h2 & 63)
	}
	return m
}

// find appends the spans of known values in s.
func (m *matcher) find(s string, out []span) []span {
	if m == nil || len(m.pats) == 0 || len(s) < 8 {
		return out
	}
	f, shift := m.filter, m.shift
	for i := 0; i+8 <= len(s); i++ {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		h1 := (w * mul1) >> shift
		if f[h1>>6]&(1<<(h1&63)) == 0 {
			continue
		}
		h2 := (w * mul2) >> shift
		if f[h2>>6]&(1<<(h2&63)) == 0 {
			continue
		}
		for _, pi := range m.byWord[w] {
			p := m.pats[pi]
			if strings.HasPrefix(s[i:], p.text) {
				out = append(out, span{i, i + len(p.text), p.reason})
			}
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
		return sp[i].end > sp[j].end
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
