package redact

import (
	"encoding/binary"
	"strings"
)

// scan finds the known values and the keywords of the detectors in s,
// running each detector on the window around its keyword. With first set it
// returns at the first span found. The known values cost one 8-byte load
// and filter test every m.step bytes; the keywords one filter test per
// byte.
func (sn *snapshot) scan(s string, out []span, first bool) []span {
	m, d := sn.known, sn.dets
	if m != nil && len(m.pats) == 0 {
		m = nil
	}
	if d != nil && len(d.list) == 0 {
		d = nil
	}
	if m == nil && d == nil {
		return out
	}
	var endBuf [64]int
	var covered []int
	if d != nil {
		if len(d.list) <= len(endBuf) {
			covered = endBuf[:len(d.list)]
		} else {
			covered = make([]int, len(d.list))
		}
		for _, k := range d.short {
			for i := 0; ; {
				j := strings.Index(s[i:], k.text)
				if j < 0 {
					break
				}
				if i+j >= covered[k.det] {
					n := len(out)
					out = d.window(s, i+j, k.det, covered, out)
					if first && len(out) > n {
						return out
					}
				}
				i += j + 1
			}
		}
	}
	b := bytesOf(s)
	if m != nil {
		for i := 0; i+8 <= len(b); i += m.step {
			w := binary.LittleEndian.Uint64(b[i:])
			if m.maybe(w) {
				n := len(out)
				out = m.verify(s, i, w, out)
				if first && len(out) > n {
					return out
				}
			}
		}
	}
	if d == nil {
		return out
	}
	tri, bi := &d.tri, &d.bi
	i := 0
	for ; i+2 < len(b); i++ {
		bg := uint32(b[i]) | uint32(b[i+1])<<8
		if bi[bg>>6]&(1<<(bg&63)) == 0 {
			continue
		}
		t := bg | uint32(b[i+2])<<16
		h := triHash(t)
		if tri[h>>6]&(1<<(h&63)) != 0 {
			n := len(out)
			out = d.keywords(s, i, t, covered, out)
			if first && len(out) > n {
				return out
			}
		}
	}
	return out
}

// keywords runs the detectors whose keyword starting with the three bytes t
// occurs at i.
func (d *detectors) keywords(s string, i int, t uint32, covered []int, out []span) []span {
	for _, k := range d.kws[t] {
		if i >= covered[k.det] && strings.HasPrefix(s[i:], k.text) {
			out = d.window(s, i, k.det, covered, out)
		}
	}
	return out
}
