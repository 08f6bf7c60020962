package redact

import (
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Detector finds a well-known token format in text, for secrets credkit was
// never told about. Keywords are literal, case-sensitive strings of which
// at least one occurs in any match (usually the token's prefix): the
// Redactor runs the Pattern only on text that holds a keyword, found for all
// detectors together from their rarest bytes and the bytes beside them, so
// that many detectors cost little more than one. A keyword with a rare byte
// (a capital, a digit, "-", "_", ":", "=") is nearly free; an all-lowercase
// word makes the scan look at each occurrence of its rarest letter whose
// neighbours fit the keyword's, in ordinary text too. Group is the
// submatch to redact (0: the whole match), so that "Authorization: Bearer
// X" keeps its header name and loses X.
//
// The Pattern runs only on a window around each keyword found: from Before
// bytes ahead of the keyword to MaxLen bytes after it (defaults 1 and 512),
// so its cost does not grow with the length of the text, and patterns need
// no literal prefix to be fast. A Pattern that starts with a boundary
// (`(?:^|[^A-Za-z0-9_-])`) works with Before 1: ^ then only matches where
// the window starts, one byte ahead of the keyword.
type Detector struct {
	Name     string
	Keywords []string
	Pattern  *regexp.Regexp
	Group    int
	Before   int
	MaxLen   int

	fn     finder // a built-in detector: a hand-written linear scanner
	assign bool   // the built-in "key" detector (its quick test is inlined)
	// pre, when set, is a quick test at a keyword found at at: false means
	// fn would find nothing there, and it is not run.
	pre func(s string, at int) bool
}

// b is a left word boundary for tokens that start with letters: the start
// of the text or a byte that cannot be part of a token.
const b = `(?:^|[^A-Za-z0-9_-])`

// DefaultDetectors returns the built-in detectors: the vendors' token
// formats, private key blocks, JWTs, Authorization and Bearer values,
// passwords in URLs, DSNs and command lines, and the value after any
// sensitive name ("AWS_SECRET_ACCESS_KEY=", `"api_key":`, "Password:").
// The package README has the table of every format. Each call returns new
// values, which a caller may filter ([WithoutDetectors]) or extend
// ([WithDetectors]).
func DefaultDetectors() []Detector { return builtin() }

// detectors is the compiled form: a keyword pre-filter shared by every
// detector, then the detectors' own patterns.
//
// Each keyword is anchored on a rare byte (see anchorKeywords). A long text
// is classified once (classify.go), which marks the anchor bytes whose
// neighbours may stand beside them in a keyword, eight buckets of anchors
// at a time; a short one costs a table lookup per byte and, at an anchor,
// the same neighbour test. A few bit tests on the neighbours (nearSets)
// then drop the rest before any keyword is compared.
type detectors struct {
	list []Detector
	// anchored holds, for detectors whose pattern starts with the token
	// boundary and whose match starts at most one byte before their keyword,
	// the pattern anchored at the window's start: a match is then tried at
	// one place, not at every offset of the window.
	anchored []*regexp.Regexp
	anchors  []byte            // the distinct anchor bytes
	flag     [256]uint8        // 1 for a byte some keyword is anchored on
	at       [256][]anchoredKW // the keywords anchored on each byte
	// near holds, per anchor byte, the neighbours its keywords of more
	// than one byte give it, as 256-bit sets: near[c].start the bytes
	// after it in keywords that start with it, near[c].end the bytes
	// before it in keywords that end with it, near[c].before and
	// near[c].after the bytes around it in keywords that hold it inside.
	// A candidate whose neighbours fit none is dropped with a few bit
	// tests: snake_case keys, kebab-case model names and "token", which
	// every log record holds, stop there.
	near [256]nearSets
	// lone marks anchor bytes that are a whole keyword ("="): their
	// candidates skip the neighbour test.
	lone [256]bool
	// byNeighbour[c] splits the keywords anchored on c by the byte next to
	// the anchor (the one before it, or after it for a keyword that starts
	// with its anchor): at an occurrence only the keywords whose neighbour
	// is there are compared. Lone keywords are in loneKW.
	byNeighbour [256]*neighbours
	loneKW      [256][]anchoredKW
	// lonePre[c] is the quick test of the one detector whose lone keyword
	// is c, when it has one: the scan loop runs it before any call.
	lonePre [256]func(s string, at int) bool
	// loneAssign[c] marks a lone keyword c of the built-in "key" detector
	// alone: the scan runs its quick test (assignMay) inline.
	loneAssign [256]bool
	// assignOnly[c] marks a loneAssign byte that anchors no other
	// keyword: the scan loop tests it inline (the '=' and ':' of links,
	// code and JSON, most of the candidates there).
	assignOnly [256]bool
	// buckets are the classifier's (classBuckets), made once.
	buckets []bucketSets
	// kill is the classifier's kill pair: ':' then '/' when the only
	// keyword anchored on ':' is the "key" detector's lone ':' (whose
	// quick test rejects a URL scheme), so that no candidate is lost.
	kill killPair
}

// nearSets are the neighbours an anchor byte has in its keywords.
type nearSets struct {
	start, end, before, after byteSet
	any                       bool // some keyword of more than one byte
}

// fits reports whether the neighbours of the anchor at p fit a keyword.
func (n *nearSets) fits(s string, p int) bool {
	if !n.any {
		return false
	}
	hasPrev, hasNext := p > 0, p+1 < len(s)
	var prev, next byte
	if hasPrev {
		prev = s[p-1]
	}
	if hasNext {
		next = s[p+1]
	}
	return hasNext && (n.start.has(next) || hasPrev && n.before.has(prev) && n.after.has(next)) ||
		hasPrev && n.end.has(prev)
}

// neighbours is the keywords of one anchor byte, grouped by neighbour.
type neighbours struct {
	before, after [256][]anchoredKW
}

// anchoredKW is a keyword whose byte at off is its anchor. head holds its
// first (up to) eight bytes as a little-endian word and mask the bits they
// fill: most candidates fail one masked compare of a word of the text.
type anchoredKW struct {
	text       string
	det        int
	off        int
	head, mask uint64
}

func newAnchoredKW(text string, det, off int) anchoredKW {
	k := anchoredKW{text: text, det: det, off: off}
	for j := 0; j < len(text) && j < 8; j++ {
		k.head |= uint64(text[j]) << (8 * j)
		k.mask |= 0xFF << (8 * j)
	}
	return k
}

// byteFreq estimates how often c occurs per 10,000 bytes of the text a
// logger carries: English prose, and the code, URLs and JSON prompts hold. Keywords are anchored on
// their least frequent byte.
func byteFreq(c byte) int {
	const lower = "etaoinshrdlcumwfgypbvkjxqz"
	lowerFreq := [26]int{1270, 910, 820, 750, 700, 670, 630, 610, 600, 430, 400, 280, 280, 240, 240, 220, 200, 200, 190, 150, 100, 80, 15, 15, 10, 7}
	const upper = "TAISOWHBCMFPDRLEGNYUKVJQXZ"
	switch {
	case c >= 'a' && c <= 'z':
		return lowerFreq[strings.IndexByte(lower, c)]
	case c >= 'A' && c <= 'Z':
		// Capitals start sentences and names: a tenth of the initials.
		return (26 - strings.IndexByte(upper, c)) * 2
	case c >= '0' && c <= '9':
		return 40
	}
	switch c {
	case ' ':
		return 1800
	case '.':
		return 1000 // sentences, and every URL, path and method call
	case '/', '"':
		return 150 // URLs and paths; JSON
	case ',':
		return 100
	case '\n', '\'', ':':
		return 60
	case '-', '(', ')', '=', '_', '{', '}':
		return 40
	case '&', '?', '@', '#', '%', '+', ';':
		return 10
	}
	return 1
}

// passCost is the price of one more anchor byte in the units of byteFreq:
// it takes a share of the classifier's eight buckets, so few anchors that
// keywords share beat many.
const passCost = 20

func compile(list []Detector) *detectors {
	d := &detectors{list: list, anchored: make([]*regexp.Regexp, len(list))}
	for i, det := range list {
		if det.Before <= 1 && det.Pattern != nil && strings.HasPrefix(det.Pattern.String(), b) {
			if re, err := regexp.Compile(`^(?:` + det.Pattern.String() + `)`); err == nil {
				d.anchored[i] = re
			}
		}
	}
	d.anchorKeywords()
	for c, kws := range d.loneKW {
		if len(kws) == 0 {
			continue
		}
		pre := d.list[kws[0].det].pre
		for _, k := range kws[1:] {
			if k.det != kws[0].det {
				pre = nil
			}
		}
		d.lonePre[c] = pre
		if pre != nil && d.list[kws[0].det].assign {
			d.loneAssign[c] = true
		}
	}
	for c := range d.assignOnly {
		d.assignOnly[c] = d.loneAssign[c] && !d.near[c].any && d.byNeighbour[c] == nil
	}
	d.buckets = d.classBuckets()
	if d.assignOnly[':'] {
		d.kill = killPair{at: ':', next: '/', ok: true}
	}
	return d
}

// anchorKeywords picks the anchor bytes: a greedy weighted set cover that
// repeatedly takes the byte with the lowest cost per keyword it would
// anchor. A byte costs a fixed price (passCost: a share of the
// classifier's buckets) plus a look at each of its occurrences (its
// frequency), so keywords share rare anchors ("AKIA", "ASIA" and the other
// AWS prefixes all on 'A' rather than each on its own capital) and the
// scan looks at few places in ordinary text.
func (d *detectors) anchorKeywords() {
	type pending struct {
		text string
		det  int
	}
	var left []pending
	for i, det := range d.list {
		for _, k := range det.Keywords {
			if k != "" {
				left = append(left, pending{k, i})
			}
		}
	}
	for len(left) > 0 {
		var count [256]int
		for _, k := range left {
			var seen [256]bool
			for j := 0; j < len(k.text); j++ {
				if c := k.text[j]; !seen[c] {
					seen[c] = true
					count[c]++
				}
			}
		}
		cost := func(c int) int {
			if d.flag[c] != 0 {
				return byteFreq(byte(c))
			}
			return passCost + byteFreq(byte(c))
		}
		best := -1
		for c := 0; c < 256; c++ {
			if count[c] > 0 && (best < 0 || cost(c)*count[best] < cost(best)*count[c]) {
				best = c
			}
		}
		c := byte(best)
		if d.flag[c] == 0 {
			d.anchors = append(d.anchors, c)
		}
		kept := left[:0]
		for _, k := range left {
			if off := strings.IndexByte(k.text, c); off >= 0 {
				d.flag[c] = 1
				kw := newAnchoredKW(k.text, k.det, off)
				d.at[c] = append(d.at[c], kw)
				if len(k.text) > 1 && d.byNeighbour[c] == nil {
					d.byNeighbour[c] = &neighbours{}
				}
				switch {
				case len(k.text) == 1:
					d.lone[c] = true
					d.loneKW[c] = append(d.loneKW[c], kw)
				case off > 0:
					nb := d.byNeighbour[c]
					nb.before[k.text[off-1]] = append(nb.before[k.text[off-1]], kw)
				default:
					nb := d.byNeighbour[c]
					nb.after[k.text[off+1]] = append(nb.after[k.text[off+1]], kw)
				}
				if nb := &d.near[c]; len(k.text) > 1 {
					nb.any = true
					switch {
					case off == 0:
						nb.start.add(k.text[1])
					case off == len(k.text)-1:
						nb.end.add(k.text[off-1])
					default:
						nb.before.add(k.text[off-1])
						nb.after.add(k.text[off+1])
					}
				}
				continue
			}
			kept = append(kept, k)
		}
		left = kept
	}
}

// classBuckets spreads the anchor bytes over the classifier's eight
// buckets (classify.go), each with the bytes that may stand before and
// after its anchors: every byte for a lone keyword ("=") and on the side
// where a keyword starts or ends with its anchor.
//
// A bucket's anchors share their high nibble, so that the nibble tables
// hold exactly them (a product of nibble sets holds more: "p" and "0"
// together would bring in "r"); lone anchors keep to buckets of their
// own, since they admit every neighbour; spare buckets go to the most
// frequent anchors alone, whose neighbour sets are then their own. Only
// past eight groups are the rarest merged, a superset.
func (d *detectors) classBuckets() []bucketSets {
	type group struct {
		anchors []byte
		freq    int
	}
	// open reports whether the keywords of more than one byte anchored on
	// the bytes of the high nibble h already admit every neighbour on both
	// sides: a lone anchor of that nibble then costs nothing more there.
	open := func(h byte) bool {
		var b, f byteSet
		for _, c := range d.anchors {
			if c>>4 != h || d.lone[c] {
				continue
			}
			d.neighbourSets(c, &b, &f)
		}
		return b == allBytes && f == allBytes
	}
	var groups []*group
	byKey := map[int]*group{}
	for _, c := range d.anchors {
		key := int(c >> 4)
		if d.lone[c] && !open(c>>4) {
			key += 16
		}
		g := byKey[key]
		if g == nil {
			g = &group{}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.anchors = append(g.anchors, c)
		g.freq += byteFreq(c)
	}
	for len(groups) < 8 {
		// Split off the most frequent anchor of a group of several.
		best, bi, bj := -1, 0, 0
		for i, g := range groups {
			if len(g.anchors) < 2 {
				continue
			}
			for j, c := range g.anchors {
				if f := byteFreq(c); f > best {
					best, bi, bj = f, i, j
				}
			}
		}
		if best < 0 {
			break
		}
		g := groups[bi]
		c := g.anchors[bj]
		g.anchors = append(g.anchors[:bj:bj], g.anchors[bj+1:]...)
		g.freq -= best
		groups = append(groups, &group{anchors: []byte{c}, freq: best})
	}
	for len(groups) > 8 {
		sort.SliceStable(groups, func(i, j int) bool { return groups[i].freq > groups[j].freq })
		n := len(groups)
		groups[n-2].anchors = append(groups[n-2].anchors, groups[n-1].anchors...)
		groups[n-2].freq += groups[n-1].freq
		groups = groups[:n-1]
	}
	out := make([]bucketSets, len(groups))
	for j, g := range groups {
		bk := &out[j]
		for _, c := range g.anchors {
			bk.a.add(c)
			if d.lone[c] {
				bk.b.fill()
				bk.f.fill()
			}
			d.neighbourSets(c, &bk.b, &bk.f)
		}
	}
	return out
}

// neighbourSets adds to b and f the bytes that may stand before and after
// the anchor c in its keywords of more than one byte: every byte on the
// side where a keyword starts or ends with it.
func (d *detectors) neighbourSets(c byte, b, f *byteSet) {
	nb := &d.near[c]
	b.union(&nb.end)
	b.union(&nb.before)
	if nb.start != (byteSet{}) {
		b.fill()
	}
	f.union(&nb.start)
	f.union(&nb.after)
	if nb.end != (byteSet{}) {
		f.fill()
	}
}

// detState is the per-scan bookkeeping of the detectors, made at the first
// keyword found: for each detector, the end of the text it has covered and
// the start of the keyword it last ran on.
type detState struct {
	covered, last []int
	// stamp[i] is the pass covered[i] and last[i] belong to; an older
	// stamp reads as a fresh start, so a new pass costs nothing.
	stamp []int
	pass  int
}

// detStates recycles the bookkeeping of scans: a String call allocates
// nothing for it.
var detStates sync.Pool

func newDetState(n int) *detState {
	st, _ := detStates.Get().(*detState)
	if st == nil || cap(st.covered) < n {
		b := make([]int, 3*n)
		st = &detState{covered: b[:n:n], last: b[n : 2*n : 2*n], stamp: b[2*n:]}
	}
	st.covered, st.last, st.stamp = st.covered[:n], st.last[:n], st.stamp[:n]
	clear(st.stamp)
	st.pass = 1
	return st
}

func (st *detState) free() {
	if st != nil {
		detStates.Put(st)
	}
}

func (st *detState) reset() {
	st.pass++
}

// keywords runs the detectors whose keywords are anchored on the byte at p
// and occur there: the lone keywords when lone (their quick test passed
// already), the others when near.
func (d *detectors) keywords(s string, p int, near, lone bool, st **detState, out []span) []span {
	c := s[p]
	if lone {
		// Their detector's quick test ran in candidate when there is one.
		out = d.try(s, p, d.loneKW[c], d.lonePre[c] != nil, st, out)
	}
	if nb := d.byNeighbour[c]; nb != nil && near {
		if p > 0 {
			out = d.try(s, p, nb.before[s[p-1]], false, st, out)
		}
		if p+1 < len(s) {
			out = d.try(s, p, nb.after[s[p+1]], false, st, out)
		}
	}
	return out
}

// try runs the detectors of the keywords kws anchored at p that occur
// there.
func (d *detectors) try(s string, p int, kws []anchoredKW, prechecked bool, st **detState, out []span) []span {
	for _, k := range kws {
		start := p - k.off
		if start < 0 || start+len(k.text) > len(s) {
			continue
		}
		if start+8 <= len(s) && word(s, start)&k.mask != k.head {
			continue
		}
		if s[start:start+len(k.text)] != k.text {
			continue
		}
		if pre := d.list[k.det].pre; pre != nil && !prechecked && !pre(s, start) {
			continue
		}
		if *st == nil {
			*st = newDetState(len(d.list))
		}
		t := *st
		// Keywords are met in the order of their anchors, so a keyword of a
		// detector can start before the one it last ran on: run it then too.
		if t.stamp[k.det] != t.pass {
			t.stamp[k.det], t.covered[k.det], t.last[k.det] = t.pass, 0, -1
		}
		if start < t.covered[k.det] && start >= t.last[k.det] {
			continue
		}
		t.last[k.det] = start
		if fn := d.list[k.det].fn; fn != nil {
			var end int
			out, end = fn(s, start, k.text, out, d.list[k.det].Name, k.det)
			if end <= start {
				end = start + 1
			}
			if end > t.covered[k.det] {
				t.covered[k.det] = end
			}
			continue
		}
		out = d.window(s, start, k.det, t.covered, out)
	}
	return out
}

// window runs detector di around a keyword at p.
func (d *detectors) window(s string, p, di int, covered []int, out []span) []span {
	det := &d.list[di]
	before, maxLen := det.Before, det.MaxLen
	if before == 0 && det.Group > 0 {
		before = 1
	}
	if maxLen == 0 {
		maxLen = 512
	}
	from, to := p-before, p+maxLen
	if from < 0 {
		from = 0
	}
	if to > len(s) {
		to = len(s)
	}
	covered[di] = p + 1
	var ms [][]int
	if re := d.anchored[di]; re != nil {
		if m := re.FindStringSubmatchIndex(s[from:to]); m != nil {
			ms = [][]int{m}
		}
	} else {
		ms = det.Pattern.FindAllStringSubmatchIndex(s[from:to], -1)
	}
	for _, m := range ms {
		g := det.Group
		if 2*g+1 >= len(m) || m[2*g] < 0 {
			continue
		}
		sp := span{from + m[2*g], from + m[2*g+1], det.Name, di}
		if sp.end > covered[di] {
			covered[di] = sp.end
		}
		out = append(out, sp)
	}
	return out
}
