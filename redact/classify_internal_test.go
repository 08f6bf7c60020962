package redact

import (
	"math/rand/v2"
	"testing"
)

// TestClassifyMatchesSets checks the classifier, on this machine's path
// (AVX2 where there is one) and the portable one, against the sets
// themselves: exact for ASCII sets, a superset otherwise, bits past the
// end clear.
func TestClassifyMatchesSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for round := 0; round < 300; round++ {
		var a, b byteSet
		ascii := round%2 == 0
		for i := 0; i < 1+rng.IntN(40); i++ {
			c := byte(rng.IntN(256))
			if ascii {
				c &= 0x7F
			}
			a.add(c)
			b.add(byte(rng.IntN(256)) & 0x7F)
		}
		tab := newClassTables(&a, &b)
		n := rng.IntN(700)
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rng.IntN(256))
		}
		s := string(src)
		words := 2 * ((n + 63) / 64)
		got := make([]uint64, words)
		classify(s, tab, got)
		gen := make([]uint64, words)
		if n&^63 > 0 {
			classifyGeneric(src[:n&^63], tab, gen)
		}
		for i := 0; i < 2*(n/64); i++ {
			if got[i] != gen[i] {
				t.Fatalf("round %d: word %d: got %x, portable %x", round, i, got[i], gen[i])
			}
		}
		for i := 0; i < words*32; i++ {
			in1 := got[i/64*2]>>(i%64)&1 == 1
			in2 := got[i/64*2+1]>>(i%64)&1 == 1
			if i >= n {
				if in1 || in2 {
					t.Fatalf("round %d: bit %d set past the end (%d)", round, i, n)
				}
				continue
			}
			c := src[i]
			if a.has(c) && !in1 || b.has(c) && !in2 {
				t.Fatalf("round %d: byte %#x at %d missed", round, c, i)
			}
			if ascii && in1 != a.has(c) && c < 0x80 {
				t.Fatalf("round %d: byte %#x at %d: %v, want exact", round, c, i, in1)
			}
			if in2 != b.has(c) && c < 0x80 {
				t.Fatalf("round %d: ASCII byte %#x at %d: %v, want exact", round, c, i, in2)
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
