package redact

import (
	"math/bits"
	"sync"
	"unsafe"
)

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// scan finds the known values and the keywords of the detectors in s,
// running each detector from its keyword. With first set it returns at the
// first span found.
//
// A text of indexFrom bytes or more is classified once (classify.go) into
// a mask of the bytes that may anchor a keyword and a mask of the bytes
// that may belong to a run (a known value's bytes, base64, hex). Known
// values are then probed, and base64 and hex decoded, only inside runs
// long enough to hold one; detectors are tried only at the set bits of the
// first mask, in the order of the text. Prose, which has neither long runs
// nor many anchor bytes, costs the classification and little else.
func (sn *snapshot) scan(s string, out []span, first bool) []span {
	if sn.tabs == nil || len(s) < classifyFrom || len(s) < indexFrom && !hasAVX2 {
		return sn.scanShort(s, out, first)
	}
	return sn.scanClassified(s, out, first)
}

// scanClassified is scan by the classifier's masks.
func (sn *snapshot) scanClassified(s string, out []span, first bool) []span {
	// Three words per 64 bytes: the two masks, then the long-run marks,
	// on the stack for a text of up to stackBlocks blocks (an ID, a
	// prompt of 2 KiB), else in a recycled buffer.
	blocks := (len(s) + 63) / 64
	var pooled *[]uint64
	var buf []uint64
	// Go zeroes an array where it is declared: each size is declared
	// where it is used, so that an ID does not pay for clearing the
	// buffer of a prompt.
	if blocks <= 2 {
		var small [3 * 2]uint64
		buf = small[:3*blocks]
	} else if blocks <= stackBlocks {
		var mid [3 * stackBlocks]uint64
		buf = mid[:3*blocks]
	} else {
		pooled = getMasks(3 * blocks)
		buf = *pooled
	}
	ms := buf[:2*blocks]
	esc := classify(s, sn.tabs, ms)
	n := len(out)
	if sn.base != nil || sn.delta != nil {
		rn := makeRuns(ms, len(s), sn.least(), buf[2*blocks:])
		rn.b64 = sn.runB64
		out = sn.rawRuns(s, &rn, out, first)
		// The escaped forms, when the text holds an escape byte at all.
		for i := 0; esc && i < len(escapeBytes) && !(first && len(out) > n); i++ {
			out = sn.escaped(s, escapeBytes[i], out, first)
		}
		if !(first && len(out) > n) {
			out = sn.binary(s, &rn, out, first)
		}
	}
	if d := sn.dets; d != nil && len(d.list) > 0 && !(first && len(out) > n) {
		out = d.scanMasked(s, ms, out, first)
	}
	if pooled != nil {
		maskPool.Put(pooled)
	}
	return out
}

var maskPool sync.Pool

func getMasks(n int) *[]uint64 {
	p, _ := maskPool.Get().(*[]uint64)
	if p == nil || cap(*p) < n {
		b := make([]uint64, n, max(n, 96)) // 96: texts up to 2 KiB
		return &b
	}
	*p = (*p)[:n]
	return p
}

// scanShort scans a short text (a key, an ID, a model name): one table
// lookup per byte beats classifying it.
func (sn *snapshot) scanShort(s string, out []span, first bool) []span {
	// A text shorter than the shortest value or fragment cannot hold one,
	// escaped or encoded either (decoding only shortens): most keys, IDs
	// and model names stop here.
	if (sn.base != nil || sn.delta != nil) && len(s) >= sn.least() {
		n := len(out)
		out = sn.known(s, out, first)
		if first && len(out) > n {
			return out
		}
	}
	d := sn.dets
	if d == nil || len(d.list) == 0 {
		return out
	}
	b := bytesOf(s)
	var st *detState
	defer func() { st.free() }()
	// At an anchor byte, the classifier's test (three lookups: its
	// neighbours may fit a keyword), then the exact test.
	t := sn.tabs
	for i := 0; i < len(b); i++ {
		c := b[i]
		if d.flag[c] == 0 {
			continue
		}
		var prev, next byte
		if i > 0 {
			prev = b[i-1]
		}
		if i+1 < len(b) {
			next = b[i+1]
		}
		if t.a[c]&t.b[prev]&t.f[next] == 0 {
			continue
		}
		if near, lone := d.candidate(s, i); near || lone {
			n := len(out)
			out = d.keywords(s, i, near, lone, &st, out)
			if first && len(out) > n {
				return out
			}
		}
	}
	return out
}

// scanMasked runs the detectors at the anchor bytes the first mask of ms
// marks, in the order of the text.
func (d *detectors) scanMasked(s string, ms []uint64, out []span, first bool) []span {
	var st *detState
	defer func() { st.free() }()
	for k := 0; k < len(ms); k += 2 {
		for m := ms[k]; m != 0; m &= m - 1 {
			p := k*32 + bits.TrailingZeros64(m)
			c := s[p]
			if d.flag[c] == 0 {
				continue // a byte sharing a nibble bucket with an anchor
			}
			if d.assignOnly[c] {
				if !mayEndAt(s, nameEnd(s, p)) { // assignMay, inline
					continue
				}
				n := len(out)
				out = d.try(s, p, d.loneKW[c], false, &st, out)
				if first && len(out) > n {
					return out
				}
				continue
			}
			near, lone := d.candidate(s, p)
			if !near && !lone {
				continue
			}
			n := len(out)
			out = d.keywords(s, p, near, lone, &st, out)
			if first && len(out) > n {
				return out
			}
		}
	}
	return out
}

// candidate reports which keywords may start a detector at the anchor
// byte at p: near, when its neighbours fit one of its keywords of more than
// one byte (nearSets.fits); lone, when it is a lone keyword ("=", ":")
// whose detector's quick test passes (the detector then runs without it).
func (d *detectors) candidate(s string, p int) (near, lone bool) {
	c := s[p]
	near = d.near[c].fits(s, p)
	if !d.lone[c] {
		return near, false
	}
	if d.loneAssign[c] && !assignMay(s, p) {
		return near, false // most '=' and ':' of code and JSON, without a call
	}
	return near, d.lonePre[c] == nil || d.lonePre[c](s, p)
}

// runs finds the long runs of the second mask of a classified text.
type runs struct {
	m []uint64 // the masks, two words per 64 bytes; runs use the second
	n int      // the length of the text
	k int      // the least run length long marks: 8 or 16
	// long[w] marks the bytes of block w from which k bytes in a row are
	// in the second mask; made once, read by every pass over the runs.
	long []uint64
	any  bool // some block has a long run
	// b64 is set when the run set is base64's on ASCII (every known
	// value's bytes are base64 characters or above 0x7F): an ASCII run of
	// the mask is then a base64 run.
	b64 bool
}

// makeRuns computes the long-run marks of the masks m of an n-byte text
// into long, with k 16 when every run a pass looks for has 16 bytes or
// more (least), else 8. (A value, not a method filling a pointer: the
// slices then stay where they were made, on the stack for a short text.)
func makeRuns(m []uint64, n, least int, long []uint64) (r runs) {
	r.m, r.n, r.k, r.long = m, n, 8, long
	if least >= 16 {
		r.k = 16
	}
	nb := len(long)
	if nb == 0 {
		return r
	}
	m = m[:2*nb]
	long = long[:nb]
	var any uint64
	// Bit i of x1 is set when bits i, i+1 of the stream are, of x2 when
	// bits i..i+3 are, of x3 i..i+7, of x4 i..i+15: each doubling looks
	// into the next block's value of the step before, so the blocks are
	// walked from the last, carrying those (n0..n3). Two shifts, an OR
	// and an AND a step; no branch.
	var n0, n1, n2, n3 uint64
	for w := nb - 1; w >= 0; w-- {
		m0 := m[2*w+1]
		x1 := m0 & (m0>>1 | n0<<63)
		x2 := x1 & (x1>>2 | n1<<62)
		x3 := x2 & (x2>>4 | n2<<60)
		x4 := x3 & (x3>>8 | n3<<56)
		if r.k == 8 {
			x4 = x3
		}
		long[w] = x4
		any |= x4
		n0, n1, n2, n3 = m0, x1, x2, x3
	}
	r.any = any != 0
	return r
}

// next returns the first run of at least k bytes of the second mask that
// starts at from or later — or the rest of the run from is in, when k or
// more bytes of it are left — as [a, e). ok is false when there is none.
func (r *runs) next(from int) (a, e int, ok bool) {
	if !r.any || from >= r.n {
		return 0, 0, false
	}
	w := from / 64
	l := r.long[w] &^ (1<<(from%64) - 1)
	for l == 0 {
		if w++; w >= len(r.long) {
			return 0, 0, false
		}
		l = r.long[w]
	}
	a = w*64 + bits.TrailingZeros64(l)
	// The run ends at the next clear bit.
	e = a
	for {
		x := ^r.m[2*(e/64)+1] >> (e % 64)
		if x != 0 {
			e += bits.TrailingZeros64(x)
			break
		}
		e = (e/64 + 1) * 64
		if e >= r.n {
			break
		}
	}
	return a, min(e, r.n), true
}

// A text is classified rather than looked at a byte at a time from
// classifyFrom bytes on where the AVX2 classifier runs (one call for a
// short text, a padded copy, costs less than a mispredicted branch at
// every anchor byte of an ID), and from indexFrom bytes on elsewhere.
const (
	classifyFrom = 16
	indexFrom    = 256
	stackBlocks  = 32 // 2 KiB of text: 768 bytes of masks on the stack
)
