package redact_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/redact"
)

// knownValues are fake values of many shapes no detector knows: only the
// known-value matcher can catch them.
var knownValues = []string{
	"FAKE-db-password-Zq7Wv9Kx",
	"FAKE<pw>&\"quoted\"/slash?=+",
	"FAKE-ümlaut-äöü-ß-日本-Zq7",
	"FAKEshort", // 9 bytes: matched whole only
	"FAKE-long-" + strings.Repeat("Qz8Wv3Lk", 60),
	"FAKE p a s s w o r d with spaces 91",
	"FAKE\\backslash\\and\nnewline-Kq2",
}

// encoded returns v in every encoding a log may carry it in.
func encoded(v string) map[string]string {
	j1, _ := json.Marshal(v)
	j2, _ := json.Marshal(string(j1))
	var noHTML strings.Builder
	enc := json.NewEncoder(&noHTML)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	b64 := base64.StdEncoding.EncodeToString([]byte(v))
	wrap := func(s string, n int, nl string) string {
		var b strings.Builder
		for len(s) > n {
			b.WriteString(s[:n] + nl)
			s = s[n:]
		}
		b.WriteString(s)
		return b.String()
	}
	ascii := regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.QueryEscape(v), strings.ToLower)
	uEsc := func(s string) string { // every non-ASCII rune as \uXXXX
		var b strings.Builder
		for _, r := range s {
			if r < 128 {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, "\\u%04x", r)
			}
		}
		return b.String()
	}
	return map[string]string{
		"raw":               v,
		"base64 std":        b64,
		"base64 raw":        base64.RawStdEncoding.EncodeToString([]byte(v)),
		"base64 url":        base64.URLEncoding.EncodeToString([]byte(v)),
		"base64 wrapped 64": wrap(b64, 64, "\n"),
		"base64 wrapped 76": wrap(b64, 76, "\r\n"),
		"hex":               hex.EncodeToString([]byte(v)),
		"HEX":               strings.ToUpper(hex.EncodeToString([]byte(v))),
		"query":             url.QueryEscape(v),
		"query lower hex":   ascii,
		"path":              url.PathEscape(v),
		"json":              string(j1[1 : len(j1)-1]),
		"json twice":        string(j2[1 : len(j2)-1]),
		"json no html":      strings.TrimSuffix(noHTML.String(), "\n")[1 : len(noHTML.String())-2],
		"json \\u":          uEsc(string(j1[1 : len(j1)-1])),
	}
}

func TestKnownValuesInEveryEncoding(t *testing.T) {
	r := redact.New(redact.WithoutDetectors())
	for i, v := range knownValues {
		require.NoError(t, r.Add(fmt.Sprint("v", i), credential.NewSecret(v)))
	}
	for i, v := range knownValues {
		for name, f := range encoded(v) {
			for _, text := range []string{f, "before " + f + " after", `{"msg":"x ` + f + ` y"}`} {
				out := r.String(text)
				assert.False(t, strings.Contains(out, f), "value %d, %s form: not redacted", i, name)
				assert.Contains(t, out, "[REDACTED]", "value %d, %s form", i, name)
			}
		}
	}
}

// Values of 8 to 15 bytes are matched whole, in every encoding too: the
// unpadded base64 of an 8-byte value is 11 characters, under the 12 the
// base64 pass once required.
func TestShortKnownValuesInEveryEncoding(t *testing.T) {
	for _, v := range []string{"Fk8#qZ2w", "p@ss1234", "Zq7-Wv9Kx", "FAKE-pw-91x", "Kq2!vL8$wR4m", "FAKEshort-1234"} {
		r := redact.New(redact.WithoutDetectors())
		require.NoError(t, r.Add("short", credential.NewSecret(v)))
		for name, f := range encoded(v) {
			for _, text := range []string{f, "before " + f + " after", `{"msg":"x ` + f + ` y"}`} {
				out := r.String(text)
				assert.False(t, strings.Contains(out, f), "%d-byte value, %s form: not redacted", len(v), name)
				assert.Contains(t, out, "[REDACTED]", "%d-byte value, %s form", len(v), name)
			}
		}
	}
}

func TestKnownValueInsideBase64OfLongerText(t *testing.T) {
	const v = "FAKE-db-password-Zq7Wv9Kx"
	r := redact.New(redact.WithoutDetectors())
	require.NoError(t, r.Add("db", credential.NewSecret(v)))
	for pre := 0; pre < 6; pre++ {
		text := strings.Repeat("x", pre) + "user:" + v + ":tail"
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
			e := enc.EncodeToString([]byte(text))
			out := r.String("Authorization: Basic " + e)
			assert.NotContains(t, out, e, "%d leading bytes", pre)
			out = r.String(`{"auths":{"registry.example.com":{"auth":"` + e + `"}}}`)
			assert.NotContains(t, out, e, "docker auth, %d leading bytes", pre)
		}
	}
}

// TestKnownValueFragments: a piece of fragMin (16) bytes or more of a known
// value is redacted wherever it stands; a shorter piece is left.
func TestKnownValueFragments(t *testing.T) {
	const key = "sk-proj-FAKEkwQzXvKwJqYzPxWvQkZjXyVqWzKxJvGq0" // 45 bytes
	r := redact.New(redact.WithoutDetectors())
	require.NoError(t, r.Add("openai", credential.NewSecret(key)))
	for n := 16; n <= len(key); n++ {
		for off := 0; off+n <= len(key); off += 3 {
			frag := key[off : off+n]
			out := r.String("key " + frag + " end")
			assert.NotContains(t, out, frag, "fragment [%d:%d] leaked", off, off+n)
		}
	}
	assert.Equal(t, "key [REDACTED] end", r.String(fmt.Sprintf("key %.24s end", key)), "%%.24s truncation")
	assert.Equal(t, "short "+key[:15], r.String("short "+key[:15]), "15 bytes are not unmistakable")
}

func TestKnownValueLongerThanAChunk(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 3000)
	for i := range b {
		b[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rng.IntN(64)]
	}
	v := string(b)
	r := redact.New(redact.WithoutDetectors())
	require.NoError(t, r.Add("pem", credential.NewSecret(v)))
	assert.Equal(t, "<[REDACTED]>", r.String("<"+v+">"))
	for off := 0; off+40 <= len(v); off += 97 {
		assert.NotContains(t, r.String("x "+v[off:off+40]+" y"), v[off:off+40])
	}
}

// TestAddIsIncremental: adding one value to 10,000, one by one, does not
// rebuild the whole index each time, and removal works across layers.
func TestAddIsIncremental(t *testing.T) {
	keys := fakeKeys(1000)
	r := redact.New()
	start := time.Now()
	for i, k := range keys {
		require.NoError(t, r.Add(fmt.Sprint(i), credential.NewSecret(k)))
	}
	took := time.Since(start)
	t.Logf("1000 Adds one by one: %v", took)
	for _, i := range []int{0, 1, 500, 999} {
		assert.True(t, r.Contains("x "+keys[i]), "key %d", i)
	}
	for _, i := range []int{0, 500, 999} {
		r.Remove(credential.NewSecret(keys[i]))
		assert.False(t, r.Contains("x "+keys[i][12:]), "removed key %d still matched", i)
	}
	assert.True(t, r.Contains("x "+keys[1]))
	assert.Equal(t, 997, r.Len())
	require.NoError(t, r.Add("again", credential.NewSecret(keys[0])))
	assert.True(t, r.Contains("x "+keys[0]), "a value added back after removal")
}

// TestKnownValueEncodingGluedToText: an encoding glued to other characters
// of its alphabet is still decoded at the right alignment (a fuzz find: "0"
// before the hex of a value).
func TestKnownValueEncodingGluedToText(t *testing.T) {
	const v = "FAKE-db-password-Zq7Wv9Kx"
	r := redact.New(redact.WithoutDetectors())
	require.NoError(t, r.Add("db", credential.NewSecret(v)))
	h := hex.EncodeToString([]byte(v))
	b := base64.RawStdEncoding.EncodeToString([]byte(v))
	for _, glue := range []string{"0", "x", "ab", "Zz9", "q", "0000"} {
		for _, f := range []string{h, strings.ToUpper(h), b, base64.RawURLEncoding.EncodeToString([]byte(v))} {
			for _, text := range []string{glue + f + glue, glue + f, f + glue} {
				assert.NotContains(t, r.String(text), f, "%q glued to %q", glue, f)
			}
		}
	}
}
