package redact

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// appendSextets appends the 6-bit values of the base64 characters of s
// (either alphabet), ignoring what is not base64.
func appendSextets(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if v := b64Val[s[i]]; v >= 0 {
			dst = append(dst, byte(v))
		}
	}
	return dst
}

// decodeBase64 decodes either alphabet, padded or not, ignoring what is not
// base64.
func decodeBase64(dst []byte, s string) []byte {
	var acc uint32
	n := 0
	for i := 0; i < len(s); i++ {
		v := b64Val[s[i]]
		if v < 0 {
			continue
		}
		acc = acc<<6 | uint32(v)
		n += 6
		if n >= 8 {
			n -= 8
			dst = append(dst, byte(acc>>n))
		}
	}
	return dst
}

// The packed decoding of every alignment of a run is what decoding its
// characters one by one gives, for both alphabets, padded or not.
func TestAppendPackedDecodesEveryAlignment(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 48; n++ {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(rng.IntN(256))
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			text := "x" + enc.EncodeToString(raw)
			sx := appendSextets(nil, text)
			for off := 0; off < 4 && off <= len(sx); off++ {
				got := appendPacked(nil, sx[off:])
				want := decodeBase64(nil, text[off:])
				if !bytes.Equal(got, want) {
					t.Fatalf("%d bytes, offset %d: packed %x, want %x", n, off, got, want)
				}
				if off == 1 && !bytes.Equal(got, raw) {
					t.Fatalf("%d bytes: packed %x, want the raw bytes", n, got)
				}
			}
		}
	}
}
