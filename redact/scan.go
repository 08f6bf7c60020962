package redact

import (
	"strings"
	"unsafe"
)

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// scan finds the known values and the keywords of the detectors in s,
// running each detector from its keyword. With first set it returns at the
// first span found. The known values cost one 8-byte load and filter test
// every few bytes, and a pass for their encodings; the keywords one
// vectorised strings.IndexByte pass per anchor byte, and a closer look only
// where an anchor occurs.
func (sn *snapshot) scan(s string, out []span, first bool) []span {
	n := len(out)
	out = sn.known(s, out, first)
	if first && len(out) > n {
		return out
	}
	d := sn.dets
	if d == nil || len(d.list) == 0 {
		return out
	}
	b := bytesOf(s)
	var st *detState
	defer func() { st.free() }()
	if len(s) < indexFrom {
		// Short texts (keys, IDs, model names): one table lookup per byte
		// beats a dozen IndexByte calls.
		fl := &d.flag
		for i := 0; i < len(b); i++ {
			if fl[b[i]] != 0 {
				n := len(out)
				out = d.keywords(s, i, &st, out)
				if first && len(out) > n {
					return out
				}
			}
		}
		return out
	}
	for _, c := range d.anchors {
		// Each anchor byte is a pass of its own over the text: what a
		// detector read in an earlier pass says nothing of this one.
		if st != nil {
			st.reset()
		}
		for i := 0; i < len(s); {
			j := strings.IndexByte(s[i:], c)
			if j < 0 {
				break
			}
			p := i + j
			i = p + 1
			// Most occurrences of an anchor byte have neither neighbour of
			// its keywords: two bit tests, and on.
			// A lone keyword ("=", ":") is tried only where its detector's
			// quick test passes.
			nb := &d.near[c]
			before := p > 0 && nb[0][s[p-1]>>6]&(1<<(s[p-1]&63)) != 0
			after := p+1 < len(s) && nb[1][s[p+1]>>6]&(1<<(s[p+1]&63)) != 0
			if !before && !after && (!d.lone[c] || d.lonePre[c] != nil && !d.lonePre[c](s, p)) {
				continue
			}
			n := len(out)
			out = d.keywords(s, p, &st, out)
			if first && len(out) > n {
				return out
			}
		}
	}
	return out
}

// indexFrom is the text length from which the keywords are found with one
// strings.IndexByte pass per anchor byte rather than a table lookup per
// byte.
const indexFrom = 256
