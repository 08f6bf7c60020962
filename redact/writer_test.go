package redact_test

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/redact"
)

// fakeBlock returns a private key block of the given kind with a fake,
// base64 body wrapped at 64 columns; its body lines all hold "FAKE".
func fakeBlock(kind string, lines int) string {
	var b strings.Builder
	b.WriteString("-----BEGIN " + kind + "-----\n")
	if strings.HasPrefix(kind, "PGP") {
		b.WriteString("Version: FAKE 1.0\n\n")
	}
	rng := rand.New(rand.NewPCG(uint64(len(kind)), 9))
	for i := 0; i < lines; i++ {
		raw := make([]byte, 44)
		for j := range raw {
			raw[j] = byte(rng.IntN(256))
		}
		b.WriteString("FAKE" + base64.StdEncoding.EncodeToString(raw)[:60] + "\n")
	}
	b.WriteString("-----END " + kind + "-----\n")
	return b.String()
}

var keyKinds = []string{
	"RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY",
	"ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK",
}

// TestWriterKeyBlocksLineByLine: a key written one line per Write, as a
// subprocess's stderr is, loses every line from BEGIN to END, not only the
// BEGIN line; the lines around it are untouched.
func TestWriterKeyBlocksLineByLine(t *testing.T) {
	r := redact.New()
	for _, kind := range keyKinds {
		for _, lines := range []int{1, 5, 26, 60} {
			block := fakeBlock(kind, lines)
			text := "starting job\n" + block + "job done\n"
			for _, mode := range []string{"line", "byte17", "all"} {
				var out bytes.Buffer
				w := r.Writer(&out)
				switch mode {
				case "line":
					for _, l := range strings.SplitAfter(text, "\n") {
						_, err := w.Write([]byte(l))
						require.NoError(t, err)
					}
				case "byte17":
					for i := 0; i < len(text); i += 17 {
						_, err := w.Write([]byte(text[i:min(len(text), i+17)]))
						require.NoError(t, err)
					}
				default:
					_, err := w.Write([]byte(text))
					require.NoError(t, err)
				}
				require.NoError(t, w.Close())
				assert.NotContains(t, out.String(), "FAKE", "%s, %d lines, %s: part of the key leaked", kind, lines, mode)
				assert.True(t, strings.HasPrefix(out.String(), "starting job\n"), "%s %s: %q", kind, mode, out.String())
				assert.True(t, strings.HasSuffix(out.String(), "job done\n"), "%s %s: %q", kind, mode, out.String())
			}
		}
	}
}

// TestWriterKeyBlockWithoutEnd: a block that never ends stops being
// dropped after 64 KiB, so that a stray BEGIN line cannot silence a log.
func TestWriterKeyBlockWithoutEnd(t *testing.T) {
	r := redact.New()
	var out bytes.Buffer
	w := r.Writer(&out)
	_, _ = w.Write([]byte("-----BEGIN PRIVATE KEY-----\n"))
	_, _ = w.Write([]byte("FAKEAAAA\n"))
	for i := 0; i < 2000; i++ {
		_, _ = w.Write([]byte(strings.Repeat("z", 63) + "\n"))
	}
	_, _ = w.Write([]byte("visible again\n"))
	assert.NotContains(t, out.String(), "FAKE")
	assert.Contains(t, out.String(), "visible again")
}

// TestWriterLongLineKeepsATail: a line over 1 MiB is flushed before its
// end, and a secret that straddles the 1 MiB mark comes out whole.
func TestWriterLongLineKeepsATail(t *testing.T) {
	r := newR(t)
	for _, sep := range []string{" ", ""} {
		for _, off := range []int{-10, 0, 5} {
			pad := strings.Repeat("a"+sep, (1<<20)/(1+len(sep))+16)
			pad = pad[:(1<<20)+off]
			text := pad + " " + known + " " + strings.Repeat("b ", 100)
			var out bytes.Buffer
			w := r.Writer(&out)
			for i := 0; i < len(text); i += 4096 {
				_, err := w.Write([]byte(text[i:min(len(text), i+4096)]))
				require.NoError(t, err)
			}
			require.NoError(t, w.Close())
			noLeak(t, "long line", out.String(), known)
			assert.Contains(t, out.String(), "[REDACTED]")
		}
	}
	// A long JWT across the mark.
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJ" + strings.Repeat("FAKEpayload", 300) + ".FAKEsig0123456789"
	text := strings.Repeat("c ", (1<<20)/2-100) + jwt + "\n"
	var out bytes.Buffer
	w := r.Writer(&out)
	for i := 0; i < len(text); i += 1000 {
		_, _ = w.Write([]byte(text[i:min(len(text), i+1000)]))
	}
	assert.NotContains(t, out.String(), "FAKE")
}
