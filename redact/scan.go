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
			n := len(out)
			out = d.keywords(s, i+j, &st, out)
			if first && len(out) > n {
				return out
			}
			i += j + 1
		}
	}
	return out
}

// indexFrom is the text length from which the keywords are found with one
// strings.IndexByte pass per anchor byte rather than a table lookup per
// byte.
const indexFrom = 256
