package redact

import (
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Known values are also found in the encodings they travel in. Rather than
// index every encoding of every value (ten forms a value, ten times the
// memory), the scan decodes what in the text is encoded and looks for the
// values in the result:
//
//   - a run holding "%" escapes (either case of hex: %3c and %3C) or "\"
//     escapes (JSON's \" \\ \/ \n \u00e4 and surrogate pairs, escaped once
//     or twice) is unescaped up to four times and searched; what is found
//     is mapped back to the escaped bytes it came from;
//   - a run of base64 characters (standard or URL alphabet, padded or not,
//     wrapped at 64 or 76 columns with "\n", "\r\n" or a JSON "\n") long
//     enough to hold the shortest value (11 characters for an 8-byte value,
//     22 for a 16-byte fragment) is decoded at each of its four
//     alignments and searched, and so is a run of hex at each of its two;
//     when a value is in it the whole run is replaced (a Basic auth header, a
//     docker auth, a data blob).
//
// The cost is linear in the text: each byte is classified once, and each
// run decoded once.

// escRunEnd ends a run that holds escapes.
var escRunEnd = mkClass(" \t\r\n'<>`")

// b64Run holds the characters of a base64 run (both alphabets).
var b64Run = mkClass("a-z", "A-Z", "0-9", "+/_-")

var hexVal = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

// known finds the known values of sn in s, raw and encoded.
func (sn *snapshot) known(s string, out []span, first bool) []span {
	if sn.base == nil && sn.delta == nil {
		return out
	}
	n := len(out)
	out = sn.raw(s, out, first)
	if first && len(out) > n {
		return out
	}
	out = sn.escaped(s, '%', out, first)
	if first && len(out) > n {
		return out
	}
	out = sn.escaped(s, '\\', out, first)
	if first && len(out) > n {
		return out
	}
	out = sn.escaped(s, '+', out, first)
	if first && len(out) > n {
		return out
	}
	return sn.binary(s, nil, out, first)
}

func (sn *snapshot) raw(s string, out []span, first bool) []span {
	out = sn.base.find(s, sn.dead, out, first)
	if first && len(out) > 0 {
		return out
	}
	return sn.delta.find(s, sn.dead, out, first)
}

// escaped finds known values in the runs of s that hold the escape byte c.
func (sn *snapshot) escaped(s string, c byte, out []span, first bool) []span {
	covered := 0
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], c)
		if j < 0 {
			break
		}
		p := i + j
		a := p
		for a > covered && !escRunEnd[s[a-1]] && !(s[a-1] == '"' && (a < 2 || s[a-2] != '\\')) {
			a--
		}
		b := p
		for b < len(s) && !escRunEnd[s[b]] && !(s[b] == '"' && (b == 0 || s[b-1] != '\\')) {
			b++
		}
		covered, i = b, b+1
		if b-a < 8 {
			continue
		}
		region := s[a:b]
		dec, idx := region, []int(nil)
		for round := 0; round < 4; round++ {
			d, m := unescape(dec, c == '+')
			if d == dec {
				break
			}
			if idx != nil {
				for k := range m {
					m[k] = idx[m[k]]
				}
			}
			dec, idx = d, m
		}
		if idx == nil {
			continue
		}
		var buf [4]span
		found := sn.raw(dec, buf[:0], first)
		for _, sp := range found {
			out = append(out, span{a + idx[sp.start], a + idx[sp.end], sp.reason, sp.prio})
		}
		if first && len(out) > 0 {
			return out
		}
	}
	return out
}

// unescape undoes one level of URL and JSON escaping in s (with plus, a
// query's "+" for a space too), leniently (what
// is not a valid escape is kept). idx[i] is the offset in s of the byte
// that became byte i of the result; idx[len] is len(s).
func unescape(s string, plus bool) (string, []int) {
	var b []byte
	var idx []int
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		var dec []byte
		var rbuf [8]byte
		switch {
		case c == '+' && plus:
			rbuf[0] = ' '
			dec, i = rbuf[:1], i+1
		case c == '%' && i+2 < len(s) && hexVal[s[i+1]] >= 0 && hexVal[s[i+2]] >= 0:
			rbuf[0] = byte(hexVal[s[i+1]]<<4 | hexVal[s[i+2]])
			dec, i = rbuf[:1], i+3
		case c == '\\' && i+1 < len(s):
			switch e := s[i+1]; e {
			case '"', '\\', '/', '\'':
				rbuf[0] = e
				dec, i = rbuf[:1], i+2
			case 'n', 't', 'r', 'b', 'f':
				rbuf[0] = ctrl[e]
				dec, i = rbuf[:1], i+2
			case 'u':
				r, n := hex4(s, i+2)
				if n == 0 {
					break
				}
				i += 6
				if r >= 0xD800 && r < 0xDC00 && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2, n2 := hex4(s, i+2); n2 > 0 && r2 >= 0xDC00 && r2 < 0xE000 {
						r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
						i += 6
					}
				}
				dec = rbuf[:utf8.EncodeRune(rbuf[:], rune(r))]
			}
		}
		if dec == nil {
			dec, i = rbuf[:1], i+1
			rbuf[0] = c
		}
		if b == nil {
			if start == i-1 && dec[0] == c && len(dec) == 1 {
				continue // nothing decoded yet: keep s
			}
			b = append(make([]byte, 0, len(s)), s[:start]...)
			idx = make([]int, start, len(s)+1)
			for k := range idx {
				idx[k] = k
			}
		}
		for range dec {
			idx = append(idx, start)
		}
		b = append(b, dec...)
	}
	if b == nil {
		return s, nil
	}
	idx = append(idx, len(s))
	return string(b), idx
}

var ctrl = [256]byte{'n': '\n', 't': '\t', 'r': '\r', 'b': '\b', 'f': '\f'}

func hex4(s string, i int) (int, int) {
	if i+4 > len(s) {
		return 0, 0
	}
	r := 0
	for k := i; k < i+4; k++ {
		v := hexVal[s[k]]
		if v < 0 {
			return 0, 0
		}
		r = r<<4 | int(v)
	}
	return r, 4
}

// rawRuns finds the known values in a classified text: only inside the
// runs of bytes that values hold, long enough to hold one.
func (sn *snapshot) rawRuns(s string, rn *runs, out []span, first bool) []span {
	least := sn.least()
	for from := 0; ; {
		a, e, ok := rn.next(from)
		if !ok {
			return out
		}
		from = e
		if e-a < least {
			continue
		}
		// The run may be of base64 bytes that no value holds ('/' in a
		// URL path): look for a run of value bytes first.
		if !sn.valueRun(bytesOf(s[a:e])) {
			continue
		}
		n := len(out)
		out = sn.raw(s[a:e], out, first)
		for i := n; i < len(out); i++ {
			out[i].start += a
			out[i].end += a
		}
		if first && len(out) > n {
			return out
		}
	}
}

// binary finds known values in the base64 and hex runs of s. With rn (a
// classified text) only the long runs of its second mask are looked at.
func (sn *snapshot) binary(s string, rn *runs, out []span, first bool) []span {
	var stack [256]byte // the decoded runs of a record's attributes fit
	buf := stack[:0]
	tbl := b64Run
	n := len(s)
	covered := 0
	// A run is decoded only when it can hold the shortest text a value is
	// found by (least bytes: 4 base64 characters hold 3 bytes, 2 hex
	// digits 1), so only runs of minRun characters or more are looked for.
	least := sn.least()
	minRun := max(8, (4*least+2)/3)
	for p := 0; ; {
		// p is where the next run of minRun or more may start: every such
		// run that starts before p has been decoded.
		p = max(p, covered)
		line1 := -1 // the end of the run's first line, when known
		var a int
		if rn != nil {
			// A run of minRun base64 characters lies in a run of the
			// second mask: go to the next one long enough.
			ra, re, ok := rn.next(p)
			if !ok {
				break
			}
			p = ra
			// When the run set is base64's on ASCII and the run is ASCII,
			// the mask's run is the base64 run: no byte to look at again.
			if rn.b64 && ascii(s[ra:re]) {
				if re-ra < minRun {
					p = re
					continue
				}
				a, line1 = ra, re
			}
		}
		if line1 < 0 {
			var ok bool
			if a, p, ok = b64RunAt(s, p, covered, minRun, tbl); !ok {
				if p+minRun > n {
					break
				}
				continue
			}
		}
		i := a
		var joined []byte // the run without its line breaks, when wrapped
		for {
			e := line1
			if e < 0 {
				e = run(s, i, tbl)
			}
			line1 = -1
			line := e - i
			for e < len(s) && s[e] == '=' {
				e++
			}
			if joined != nil {
				joined = append(joined, s[i:e]...)
			}
			i = e
			// Wrapped at 64 or 76 columns: the next line goes on.
			if line != 64 && line != 76 {
				break
			}
			nl := 0
			switch {
			case strings.HasPrefix(s[e:], "\r\n"), strings.HasPrefix(s[e:], `\n`):
				nl = 2
			case strings.HasPrefix(s[e:], "\n"):
				nl = 1
			case strings.HasPrefix(s[e:], `\r\n`):
				nl = 4
			}
			if nl == 0 || e+nl >= len(s) || !tbl[s[e+nl]] {
				break
			}
			if joined == nil {
				joined = append([]byte(nil), s[a:e]...)
			}
			i = e + nl
		}
		covered = i
		text := s[a:i]
		if joined != nil {
			text = string(joined)
		}
		if 3*len(text) < 4*least {
			continue
		}
		// Base64 of 12 bytes or more holds both cases of letters (all but
		// 0.2% of random runs); hex is one case and digits. A run that is
		// neither (a path, a long word) is not decoded: the test stops at
		// the first character of the second case.
		// The run may start a few characters before the encoding does
		// ("x" glued to it): each alignment is decoded.
		found := false
		var aligns uint8
		if mixedCase(text) {
			aligns = sn.mayDecode(text, least)
		}
		if aligns != 0 {
			// The 6-bit values ('=' and line breaks have none), then each
			// alignment that may hold a known value packed from them,
			// after them in buf.
			if cap(buf) < 2*len(text) {
				buf = make([]byte, 0, 2*len(text))
			}
			vals := buf[:len(text)]
			m := 0
			for x := 0; x < len(text); x++ {
				v := b64Val[text[x]]
				vals[m] = byte(v)
				m += int(^uint8(v) >> 7) // counted when it is one
			}
			for off := 0; off < 4 && !found && 3*(m-off) >= 4*least; off++ {
				if aligns&(1<<off) == 0 {
					continue // decoded garbage: not even packed
				}
				buf = appendPacked(buf[:m], buf[off:m])
				found = sn.containsRaw(buf[m:])
			}
		}
		// Hex, also where it is glued to other letters: each run of 16 hex
		// digits or more, at both alignments.
		minHex := max(16, 2*least)
		for h := 0; h+minHex <= len(text) && !found; {
			for h < len(text) && hexVal[text[h]] < 0 {
				h++
			}
			e := h
			for e < len(text) && hexVal[text[e]] >= 0 {
				e++
			}
			if e-h >= minHex {
				for off := 0; off < 2 && !found; off++ {
					buf = decodeHex(buf[:0], text[h+off:e])
					found = sn.containsRaw(buf)
				}
			}
			h = e
		}
		if found {
			out = append(out, span{a, i, "known:encoded", -1})
		}
		if first && len(out) > 0 {
			return out
		}
	}
	return out
}

// b64RunAt looks for a base64 run of minRun characters or more that
// starts at p or later (none starts before p): a is its start (extended
// back to covered), ok false when there is none in the window at p, and
// next the p to look from then. One starting at p holds the 8 bytes at q,
// so a byte at q+k that cannot be in a run rules out every start up to
// q+k. A window holding a space, a quote, any byte below '+' or above
// 0x7F (most windows of prose, code and JSON) is ruled out with one word
// test (exact: no borrow crosses bytes); the rest byte by byte.
func b64RunAt(s string, p, covered, minRun int, tbl *class) (a, next int, ok bool) {
	q := p + minRun - 8
	if q+8 > len(s) {
		return 0, len(s), false
	}
	const ones, highs, low7 = 0x0101010101010101, 0x8080808080808080, 0x7F7F7F7F7F7F7F7F
	w := word(s, q)
	if bad := (^((w & low7) + ones*(0x80-'+')) | w) & highs; bad != 0 {
		return 0, q + (63-bits.LeadingZeros64(bad))>>3 + 1, false
	}
	k := q + 7
	for k >= q && tbl[s[k]] {
		k--
	}
	if k >= q {
		return 0, k + 1, false
	}
	a = q
	for a > covered && tbl[s[a-1]] {
		a--
	}
	return a, p, true
}

// ascii reports whether s is all ASCII, eight bytes a step.
func ascii(s string) bool {
	var or uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		or |= word(s, i)
	}
	for ; i < len(s); i++ {
		or |= uint64(s[i])
	}
	return or&0x8080808080808080 == 0
}

// mixedCase reports whether s holds both a small and a capital letter,
// eight bytes a step (the bytes of a run are ASCII).
func mixedCase(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// between marks the bytes of w in [lo, hi] (w's bytes below 0x80).
	between := func(w uint64, lo, hi byte) uint64 {
		return (w + ones*uint64(0x80-lo)) &^ (w + ones*uint64(0x7F-hi)) & highs
	}
	var small, capital uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := word(s, i) & 0x7F7F7F7F7F7F7F7F
		small |= between(w, 'a', 'z')
		capital |= between(w, 'A', 'Z')
		if small != 0 && capital != 0 {
			return true
		}
	}
	var kind uint8
	for ; i < len(s); i++ {
		kind |= charInfo[s[i]]
	}
	return (small != 0 || kind&1 != 0) && (capital != 0 || kind&2 != 0)
}

// charInfo classifies a byte of a run: 1 small letter, 2 capital, 4 digit,
// 8 other; isHex for a hex digit of either case.
const isHex = 16

var charInfo = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'a' && c <= 'z':
			t[c] = 1
		case c >= 'A' && c <= 'Z':
			t[c] = 2
		case c >= '0' && c <= '9':
			t[c] = 4
		default:
			t[c] = 8
		}
		if hexVal[c] >= 0 {
			t[c] |= isHex
		}
	}
	return t
}()

// valueRun reports whether b has a run of least bytes or more that the
// known values hold: decoded garbage (a request ID, a path read as
// base64) has none, and is not searched. It tests one byte per least
// bytes while none is in the set.
func (sn *snapshot) valueRun(b []byte) bool {
	least := sn.least()
	vb := &sn.vbytes
	// i is 0 or follows a byte outside the set: no run crosses it.
	for i := 0; i+least <= len(b); {
		j := i + least - 1
		if !vb.has(b[j]) {
			i = j + 1
			continue
		}
		k := j // the start of the run through j
		for k > i && vb.has(b[k-1]) {
			k--
		}
		e := j + 1
		for e < len(b) && e-k < least && vb.has(b[e]) {
			e++
		}
		if e-k >= least {
			return true
		}
		i = e + 1
	}
	return false
}

// mayDecode returns the alignments (bit off for a decoding that skips off
// characters) at which the base64 run text may decode to a run of
// known-value bytes (valueRun), reading the characters themselves: most
// runs (IDs, paths) are ruled out before their 6-bit values are written
// out. A run with '=' inside (not only at its end) keeps every alignment.
func (sn *snapshot) mayDecode(text string, least int) (aligns uint8) {
	body := text
	for len(body) > 0 && body[len(body)-1] == '=' {
		body = body[:len(body)-1]
	}
	if strings.IndexByte(body, '=') >= 0 {
		return 0xF
	}
	vb := &sn.vbytes
	for off := 0; off < 4 && 3*(len(body)-off) >= 4*least; off++ {
		sx := body[off:]
		n := len(sx) * 3 / 4
		for i := 0; i+least <= n; {
			j := i + least - 1
			if !vb.has(b64Byte(sx, j)) {
				i = j + 1
				continue
			}
			k := j
			for k > i && vb.has(b64Byte(sx, k-1)) {
				k--
			}
			e := j + 1
			for e < n && e-k < least && vb.has(b64Byte(sx, e)) {
				e++
			}
			if e-k >= least {
				aligns |= 1 << off
				break
			}
			i = e + 1
		}
	}
	return aligns
}

// b64Byte is byte j of what the base64 characters sx decode to.
func b64Byte(sx string, j int) byte {
	r := uint(j % 3)
	x := j/3*4 + int(r)
	return byte(b64Val[sx[x]])<<(2+2*r) | byte(b64Val[sx[x+1]])>>(4-2*r)
}

// least is the shortest text the known values can be found by.
func (sn *snapshot) least() int {
	l := fragMin
	if sn.base != nil {
		l = min(l, sn.base.least)
	}
	if sn.delta != nil {
		l = min(l, sn.delta.least)
	}
	return l
}

func (sn *snapshot) containsRaw(b []byte) bool {
	if len(b) < 8 || !sn.valueRun(b) {
		return false
	}
	s := unsafeString(b)
	var buf [1]span
	return len(sn.raw(s, buf[:0], true)) > 0
}

var b64Val = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < 64; i++ {
		t[std[i]] = int8(i)
	}
	t['-'], t['_'] = 62, 63
	return t
}()

// appendPacked appends the bytes the 6-bit values sx encode: what
// a bitwise decoder returns for the characters of sx (decodeBase64 in the
// tests): sx holds their 6-bit values (b64Val).
func appendPacked(dst, sx []byte) []byte {
	n := len(sx) &^ 3
	for i := 0; i < n; i += 4 {
		v := uint32(sx[i])<<18 | uint32(sx[i+1])<<12 | uint32(sx[i+2])<<6 | uint32(sx[i+3])
		dst = append(dst, byte(v>>16), byte(v>>8), byte(v))
	}
	switch len(sx) - n {
	case 2:
		dst = append(dst, sx[n]<<2|sx[n+1]>>4)
	case 3:
		v := uint32(sx[n])<<12 | uint32(sx[n+1])<<6 | uint32(sx[n+2])
		dst = append(dst, byte(v>>10), byte(v>>2))
	}
	return dst
}

func decodeHex(dst []byte, s string) []byte {
	for i := 0; i+1 < len(s); i += 2 {
		dst = append(dst, byte(hexVal[s[i]]<<4|hexVal[s[i+1]]))
	}
	return dst
}
