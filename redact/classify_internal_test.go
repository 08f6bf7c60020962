package redact

import (
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/credkit/credkit/credential"
)

// TestClassifyMatchesSets checks the classifier on this machine's path
// (AVX2 where there is one) against the formula computed byte by byte,
// and against the sets: never a miss (a byte in A_j with its neighbours in
// B_j and F_j; a run byte), exact run set for ASCII, and bits past the end
// clear. Lengths cover the padded first and last blocks.
func TestClassifyMatchesSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for round := 0; round < 400; round++ {
		nb := 1 + rng.IntN(8)
		bks := make([]bucketSets, nb)
		for j := range bks {
			for i := 0; i < 1+rng.IntN(3); i++ {
				bks[j].a.add(byte(rng.IntN(256)))
			}
			for i := 0; i < rng.IntN(30); i++ {
				bks[j].b.add(byte(rng.IntN(256)))
				bks[j].f.add(byte(rng.IntN(256)))
			}
			if rng.IntN(4) == 0 {
				bks[j].b.fill()
			}
			if rng.IntN(4) == 0 {
				bks[j].f.fill()
			}
		}
		var run byteSet
		for i := 0; i < rng.IntN(80); i++ {
			run.add(byte(rng.IntN(128)))
		}
		var kill killPair
		switch rng.IntN(3) {
		case 0: // an anchor and a byte after it
			for c := 0; c < 256; c++ {
				if bks[0].a.has(byte(c)) {
					kill = killPair{at: byte(c), next: byte(rng.IntN(256)), ok: true}
					break
				}
			}
		case 1: // zeros: the padding must not be taken for the pair
			kill = killPair{ok: true}
		}
		tab := newClassTables(bks, &run, kill)
		n := rng.IntN(900)
		src := make([]byte, n)
		// A small alphabet, so that anchors meet their neighbours.
		alpha := make([]byte, 2+rng.IntN(30))
		for i := range alpha {
			alpha[i] = byte(rng.IntN(256))
		}
		if rng.IntN(2) == 0 {
			// Texts with and without escape bytes, anywhere.
			alpha[0] = escapeBytes[rng.IntN(len(escapeBytes))]
		}
		for i := range src {
			src[i] = alpha[rng.IntN(len(alpha))]
		}
		s := string(src)
		words := 2 * ((n + 63) / 64)
		got := make([]uint64, words)
		esc := classify(s, tab, got)
		if want := strings.ContainsAny(s, escapeBytes); esc != want && (want || !hasAVX2 || !inPages(s)) {
			// In place, a byte just past s may be an escape byte.
			t.Fatalf("round %d: classify says escape byte %v, the text %v", round, esc, want)
		}
		// The portable classifier over the whole blocks gives the same
		// words (the padded tail is checked bit by bit below).
		if full := n &^ 63; full > 0 {
			gen := make([]uint64, 2*(full/64))
			classifyGeneric(s, 0, full, tab, gen)
			for i := range gen {
				if gen[i] != got[i] {
					t.Fatalf("round %d: word %d: classify %#x, portable %#x", round, i, got[i], gen[i])
				}
			}
		}
		for i := 0; i < words*32; i++ {
			cand := got[i/64*2]>>(i%64)&1 == 1
			inRun := got[i/64*2+1]>>(i%64)&1 == 1
			if i >= n {
				if cand || inRun {
					t.Fatalf("round %d: bit %d set past the end (%d)", round, i, n)
				}
				continue
			}
			c := src[i]
			var prev, next byte
			if i > 0 {
				prev = src[i-1]
			}
			if i+1 < n {
				next = src[i+1]
			}
			killed := kill.ok && c == kill.at && next == kill.next
			if want := tab.a[c]&tab.b[prev]&tab.f[next] != 0 && !killed; cand != want {
				t.Fatalf("round %d (n %d): candidate bit %d is %v, formula %v", round, n, i, cand, want)
			}
			for _, bk := range bks {
				if bk.a.has(c) && bk.b.has(prev) && bk.f.has(next) && !cand && !killed {
					t.Fatalf("round %d: byte %#x at %d missed", round, c, i)
				}
			}
			if c < 0x80 && inRun != run.has(c) || run.has(c) && !inRun {
				t.Fatalf("round %d: run bit of %#x at %d is %v", round, c, i, inRun)
			}
		}
	}
}

// TestMixedCase checks the word-at-a-time case test against a byte loop.
func TestMixedCase(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/_-="
	for round := 0; round < 20000; round++ {
		b := make([]byte, rng.IntN(40))
		// Mostly one case, so that both answers come up.
		lo, n := rng.IntN(3), len(alpha)
		for i := range b {
			switch lo {
			case 0:
				b[i] = alpha[rng.IntN(n)]
			case 1:
				b[i] = "abcdef0123456789/-"[rng.IntN(18)]
			default:
				b[i] = "ABCDEF0123456789+_"[rng.IntN(18)]
			}
		}
		if rng.IntN(8) == 0 && len(b) > 0 {
			b[rng.IntN(len(b))] = alpha[rng.IntN(n)]
		}
		small, capital := false, false
		for _, c := range b {
			small = small || c >= 'a' && c <= 'z'
			capital = capital || c >= 'A' && c <= 'Z'
		}
		if got := mixedCase(string(b)); got != (small && capital) {
			t.Fatalf("mixedCase(%q) = %v", b, got)
		}
	}
}

// TestDefaultAnchorsSkipProse guards the scan's cost on prose: with the
// default detectors, the classifier marks no byte of ordinary English as a
// place to try a detector (a bucket that admits every neighbour for a
// frequent letter would mark hundreds), and no known-value run.
func TestDefaultAnchorsSkipProse(t *testing.T) {
	r := New()
	if err := r.Add("k", credential.NewSecret("sk-proj-FAKEabcdefghijklmnopqrstuvwxyz0123")); err != nil {
		t.Fatal(err)
	}
	sn := r.snap.Load()
	prose := strings.Repeat("You are a support assistant for an online store. Summarize the customer's ticket "+
		"below in three bullet points, then propose a reply that is polite, short and specific. "+
		"Do not invent order numbers or policies; keep the tone warm, and quote the product's name. ", 12)
	ms := make([]uint64, 2*((len(prose)+63)/64))
	classify(prose, sn.tabs, ms)
	for k := 0; k < len(ms); k += 2 {
		if ms[k] != 0 {
			p := k*32 + bits.TrailingZeros64(ms[k])
			t.Fatalf("byte %q at %d of prose is a candidate (buckets %+v)", prose[p], p, len(sn.dets.buckets))
		}
	}
	rn := makeRuns(ms, len(prose), sn.least(), make([]uint64, len(ms)/2))
	if a, e, ok := rn.next(0); ok {
		t.Fatalf("prose has a run of %d bytes at %d long enough to hold a known value", e-a, a)
	}
}

// TestURLSchemesAreNoCandidates: with the default detectors the ':' of
// every URL scheme is left out by the classifier itself (the kill pair),
// not by a call per occurrence; a ':' of "key: value" still is one.
func TestURLSchemesAreNoCandidates(t *testing.T) {
	sn := New().snap.Load()
	s := strings.Repeat("see https://docs.example.com/a?b=c and http://localhost:8080/x, ", 8) + "password: FAKEpw0000"
	ms := make([]uint64, 2*((len(s)+63)/64))
	classify(s, sn.tabs, ms)
	colons := 0
	for k := 0; k < len(ms); k += 2 {
		for m := ms[k]; m != 0; m &= m - 1 {
			p := k*32 + bits.TrailingZeros64(m)
			if s[p] == ':' {
				if s[p+1] == '/' {
					t.Fatalf("the ':' of a URL scheme at %d is a candidate", p)
				}
				colons++
			}
		}
	}
	if colons == 0 {
		t.Fatal("the ':' of \"password:\" is no candidate")
	}
}

// TestLongRunMarks checks makeRuns against its definition, bit by bit: a
// byte is marked when it and the k-1 bytes after it are in the run mask
// (nothing past the last block is), for k 8 and 16, on masks of runs of
// every length that cross blocks.
func TestLongRunMarks(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for round := 0; round < 2000; round++ {
		nb := 1 + rng.IntN(6)
		ms := make([]uint64, 2*nb)
		for p := 0; p < 64*nb; {
			l := rng.IntN(40)
			if rng.IntN(2) == 0 {
				for i := p; i < p+l && i < 64*nb; i++ {
					ms[2*(i/64)+1] |= 1 << (i % 64)
				}
			}
			p += l + 1
		}
		least := []int{8, 11, 16, 20}[rng.IntN(4)]
		rn := makeRuns(ms, 64*nb, least, make([]uint64, nb))
		in := func(i int) bool { return i < 64*nb && ms[2*(i/64)+1]>>(i%64)&1 == 1 }
		anyMark := false
		for i := 0; i < 64*nb; i++ {
			want := true
			for j := i; j < i+rn.k; j++ {
				want = want && in(j)
			}
			got := rn.long[i/64]>>(i%64)&1 == 1
			if got != want {
				t.Fatalf("round %d (k %d): mark of bit %d is %v, want %v", round, rn.k, i, got, want)
			}
			anyMark = anyMark || got
		}
		if rn.any != anyMark {
			t.Fatalf("round %d: any %v, marks %v", round, rn.any, anyMark)
		}
	}
}

// TestClassifyAroundPageEdges: texts placed anywhere in memory, with
// random bytes around them (anchors, escape bytes), near a page's start
// and end as well as inside one, classify as the portable classifier does:
// the kernel reads them in place only where that cannot fault, and the
// bytes around a text never change its masks.
func TestClassifyAroundPageEdges(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 on this machine: classify is the portable classifier")
	}
	r := New()
	if err := r.Add("k", credential.NewSecret("sk-proj-FAKEabcdefghijklmnopqrstuvwxyz0123")); err != nil {
		t.Fatal(err)
	}
	tab := r.snap.Load().tabs
	rng := rand.New(rand.NewPCG(13, 14))
	const page = 4096
	mem := make([]byte, 5*page)
	base := int((page - uintptr(unsafe.Pointer(&mem[0]))%page) % page) // a page start in mem
	const alpha = "ab=:/%\\\\+@AKsk-_ \\n\"0123"
	for i := range mem {
		mem[i] = alpha[rng.IntN(len(alpha))]
	}
	inPlace, padded := 0, 0
	for round := 0; round < 3000; round++ {
		n := 1 + rng.IntN(300)
		var at int
		switch rng.IntN(3) {
		case 0: // ends near a page end
			at = base + 2*page - n - rng.IntN(80)
		case 1: // starts near a page start
			at = base + 2*page + rng.IntN(3) - 1
		default:
			at = base + page + rng.IntN(2*page)
		}
		s := unsafeString(mem[at : at+n])
		if inPages(s) {
			inPlace++
		} else {
			padded++
		}
		words := 2 * ((n + 63) / 64)
		got, want := make([]uint64, words), make([]uint64, words)
		esc := classify(s, tab, got)
		wantEsc := classifyPortable(s, tab, want)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("round %d: %d bytes at page offset %d: word %d is %#x, portable %#x", round, n, (at-base)%page, i, got[i], want[i])
			}
		}
		if wantEsc && !esc {
			t.Fatalf("round %d: an escape byte missed", round)
		}
	}
	if inPlace == 0 || padded == 0 {
		t.Fatalf("in place %d, padded %d: both paths must be tried", inPlace, padded)
	}
}
