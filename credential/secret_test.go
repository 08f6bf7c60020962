package credential_test

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
)

// fakeKey has the shape of a modern OpenAI project key and is obviously
// fake. It holds no decimal or lower-case hex digit: fmt prints pointers
// as addresses (%d in decimal, %x in hex), which would contain 4 bytes of a
// key such as "...6789..." by chance now and then.
const fakeKey = "sk-proj-FAKEghijklmnopqrstuvwxyzFAKEGHIJKLMNOPQRSTUVWXYZ"

// leak reports the first substring of secret of at least 4 bytes found in
// out, as an offset into the secret (never the substring itself), or -1.
func leak(out, secret string) int {
	const n = 4
	for i := 0; i+n <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+n]) {
			return i
		}
	}
	return -1
}

func requireNoLeak(t *testing.T, what, out, secret string) {
	t.Helper()
	if i := leak(out, secret); i >= 0 {
		t.Fatalf("%s: output contains the 4 bytes of the secret at offset %d (output length %d)", what, i, len(out))
	}
}

type holder struct {
	Name   string
	Key    credential.Secret
	hidden credential.Secret
	Ptr    *credential.Secret
}

func TestSecretNeverPrints(t *testing.T) {
	s := credential.NewSecret(fakeKey)
	h := holder{Name: "openai", Key: s, hidden: s, Ptr: &s}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10v", "%-40s", "%080q", "% x", "%#x", "%+q", "%.3s", "%60.2v", "%p", "%t", "%e", "%c", "%U", "%b", "%o"}
	for _, verb := range verbs {
		for name, arg := range map[string]any{
			"value": s, "pointer": &s, "struct": h, "pointer to struct": &h,
			"slice": []credential.Secret{s, s}, "map": map[string]credential.Secret{"k": s},
			"map key": map[credential.Secret]int{s: 1}, "any slice": []any{s, &h},
		} {
			requireNoLeak(t, verb+" of "+name, fmt.Sprintf(verb, arg), fakeKey)
		}
	}
	for name, out := range map[string]string{
		"Sprint": fmt.Sprint(s, h, &h), "Sprintln": fmt.Sprintln(s, h, &h), "String": s.String(), "GoString": s.GoString(),
	} {
		requireNoLeak(t, name, out, fakeKey)
	}
	assert.Equal(t, "[REDACTED]", fmt.Sprint(s))
	assert.Equal(t, "  [REDACTED]", fmt.Sprintf("%12v", s))
	assert.Equal(t, "[REDACTED]  ", fmt.Sprintf("%-12s", s))
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestSecretInSlog(t *testing.T) {
	s := credential.NewSecret(fakeKey)
	h := holder{Name: "openai", Key: s, hidden: s, Ptr: &s}
	for name, mk := range map[string]func(*bytes.Buffer) slog.Handler{
		// The time is dropped: its digits could match the key's by chance.
		"json": func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: dropTime})
		},
		"text": func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{ReplaceAttr: dropTime})
		},
	} {
		var buf bytes.Buffer
		l := slog.New(mk(&buf))
		l.Info("msg", "key", s, "ptr", &s)
		l.WithGroup("g").With("key", s).Info("grouped", slog.Group("inner", "key", s))
		l.Info("struct", slog.Any("holder", h), slog.Any("holderptr", &h))
		l.Info("map", slog.Any("m", map[string]any{"key": s, "nested": map[string]credential.Secret{"k": s}}))
		requireNoLeak(t, "slog "+name, buf.String(), fakeKey)
		assert.Contains(t, buf.String(), "[REDACTED]")
	}
}

func TestSecretEncodings(t *testing.T) {
	s := credential.NewSecret(fakeKey)
	h := holder{Name: "openai", Key: s, Ptr: &s}

	j, err := json.Marshal(h)
	require.NoError(t, err)
	requireNoLeak(t, "json", string(j), fakeKey)
	assert.JSONEq(t, `{"Name":"openai","Key":"[REDACTED]","Ptr":"[REDACTED]"}`, string(j))

	x, err := xml.Marshal(h)
	require.NoError(t, err)
	requireNoLeak(t, "xml", string(x), fakeKey)
	assert.Contains(t, string(x), "<Key>[REDACTED]</Key>")

	txt, err := s.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "[REDACTED]", string(txt))

	var buf bytes.Buffer
	err = gob.NewEncoder(&buf).Encode(h)
	require.Error(t, err, "gob must refuse a Secret")
	requireNoLeak(t, "gob error", err.Error(), fakeKey)
	requireNoLeak(t, "gob output", buf.String(), fakeKey)
}

func TestSecretValueAndZero(t *testing.T) {
	var zero credential.Secret
	assert.True(t, zero.IsZero())
	assert.Equal(t, "", zero.Reveal())
	assert.Equal(t, "", zero.Fingerprint())
	assert.Equal(t, 0, zero.Len())
	assert.True(t, credential.NewSecret("").IsZero())
	assert.True(t, zero.Equal(credential.NewSecret("")))

	s := credential.NewSecret(fakeKey)
	assert.False(t, s.IsZero())
	assert.True(t, s.Reveal() == fakeKey, "Reveal must return the value")
	assert.Equal(t, len(fakeKey), s.Len())
	assert.True(t, s.Equal(credential.NewSecret(fakeKey)))
	assert.False(t, s.Equal(credential.NewSecret(fakeKey+"x")))
	assert.False(t, s.Equal(credential.NewSecret(strings.Replace(fakeKey, "F", "G", 1))))
}

func TestFingerprint(t *testing.T) {
	a := credential.NewSecret(fakeKey)
	b := credential.NewSecret(fakeKey)
	c := credential.NewSecret(fakeKey + "2")
	assert.Equal(t, a.Fingerprint(), b.Fingerprint(), "equal values, equal fingerprints")
	assert.NotEqual(t, a.Fingerprint(), c.Fingerprint())
	assert.Len(t, a.Fingerprint(), 16)
	assert.Regexp(t, "^[0-9a-f]{16}$", a.Fingerprint())
	// Spelled without hex digits, so that no 4 bytes of the key can turn up in
	// the hex fingerprint by chance.
	k := keyLike("fingerprint-test-key")
	requireNoLeak(t, "fingerprint", credential.NewSecret(k).Fingerprint(), k)
}

// FuzzSecretFormatting formats a Secret with random verbs, flags and widths
// inside random containers and fails if 4 or more consecutive bytes of the
// value appear. Its seed corpus runs in every plain go test.
func FuzzSecretFormatting(f *testing.F) {
	f.Add(fakeKey, "v", "", 0, uint8(0))
	f.Add("sk-ant-api03-FAKEFAKEFAKEFAKE-FAKEFAKEAA", "q", "+#", 40, uint8(1))
	f.Add("AKIAFAKEFAKEFAKE0000", "x", "-0", 3, uint8(2))
	f.Add("ghp_FAKEfakeFAKEfakeFAKEfakeFAKEfake0000", "s", " ", 100, uint8(3))
	f.Add("hf_FAKEfakeFAKEfakeFAKEfakeFAKEfake", "d", "#", 7, uint8(4))
	f.Add("pcsk_FAKE_fakefakefakefakefake", "X", "-", 12, uint8(5))
	f.Add("xoxb-0000-FAKE-fakefakefake", "T", "", 0, uint8(6))
	f.Add("secret with spaces and \"quotes\"", "+v", "", 0, uint8(7))
	f.Fuzz(func(t *testing.T, value, verb, flags string, width int, shape uint8) {
		if verb == "" {
			return
		}
		value = keyLike(value)
		if width < 0 {
			width = -width
		}
		width %= 200
		format := "%" + flags
		if width > 0 {
			format += fmt.Sprint(width)
		}
		format += verb
		// The format itself may contain the value's bytes (the fuzzer can put
		// them in verb or flags): only a leak beyond those is a failure.
		if leak(format, value) >= 0 {
			return
		}
		out := fmt.Sprintf(format, shaped(credential.NewSecret(value), shape))
		// Padding, type names and addresses can contain short runs such as
		// "0000" on their own: a control run with another value of the same
		// length tells those apart from a leak.
		control := fmt.Sprintf(format, shaped(credential.NewSecret(strings.Repeat("\x7f", len(value))), shape))
		for i := 0; i+4 <= len(value); i++ {
			if sub := value[i : i+4]; strings.Contains(out, sub) && !strings.Contains(control, sub) {
				t.Fatalf("format %q on shape %d printed 4 bytes of the value at offset %d", format, shape%8, i)
			}
		}
	})
}

// keyAlphabet has no hex digit, no decimal digit and no space: a value
// spelled in it cannot be mistaken for an address, a width or padding in
// fmt's output, so any 4 of its bytes found there came from the value.
const keyAlphabet = "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ_-"

// keyLike maps arbitrary fuzz bytes to a key-shaped value of at least 8 bytes.
func keyLike(raw string) string {
	b := []byte("sk-" + raw + "padpadpad")
	for i := 3; i < len(b); i++ {
		b[i] = keyAlphabet[int(b[i])%len(keyAlphabet)]
	}
	return string(b)
}

// shaped puts s into one of eight containers.
func shaped(s credential.Secret, shape uint8) any {
	switch shape % 8 {
	case 0:
		return s
	case 1:
		return &s
	case 2:
		return holder{Name: "n", Key: s, hidden: s, Ptr: &s}
	case 3:
		return &holder{Name: "n", Key: s, hidden: s}
	case 4:
		return []any{s, map[string]any{"k": s}}
	case 5:
		return map[string]*credential.Secret{"k": &s}
	case 6:
		return struct{ inner struct{ s credential.Secret } }{struct{ s credential.Secret }{s}}
	default:
		return [2]credential.Secret{s, s}
	}
}
