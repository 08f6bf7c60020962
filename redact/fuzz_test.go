package redact_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/redact"
)

// keyFrom turns fuzz bytes into a key-shaped secret of 12–64 bytes in an
// alphabet that cannot collide with the handler's own output (no digits,
// no JSON punctuation, no "REDACTED").
func keyFrom(raw []byte) string {
	const alphabet = "ghijkmnpqrstuvwxyzGHJKMNPQRSTUVWXYZ"
	n := 12 + len(raw)%53
	b := make([]byte, n)
	for i := range b {
		var c byte
		if len(raw) > 0 {
			c = raw[i%len(raw)] + byte(i*7)
		}
		b[i] = alphabet[int(c)%len(alphabet)]
	}
	return "FAKE" + string(b)
}

type group struct{ Inner any }

// FuzzHandlerLeak places a known secret, in a random encoding, at a random
// position of a random attribute shape, and fails if the handler's output
// holds the secret or any of its encodings. Its seed corpus runs in every
// plain go test.
func FuzzHandlerLeak(f *testing.F) {
	for i := 0; i < 12; i++ {
		f.Add([]byte(fmt.Sprintf("seed-%d", i)), uint8(i), uint8(i*3), uint8(i%5), "prefix ", " suffix")
	}
	f.Fuzz(func(t *testing.T, raw []byte, shape, enc, depth uint8, pre, post string) {
		secret := keyFrom(raw)
		var s string
		switch enc % 6 {
		case 0:
			s = secret
		case 1:
			s = base64.StdEncoding.EncodeToString([]byte(secret))
		case 2:
			s = hex.EncodeToString([]byte(secret))
		case 3:
			s = url.QueryEscape(secret)
		case 4:
			s = base64.RawURLEncoding.EncodeToString([]byte(secret))
		case 5:
			s = strings.ToUpper(hex.EncodeToString([]byte(secret)))
		}
		if strings.Contains(pre+post, secret) {
			return
		}
		payload := pre + s + post
		r := redact.New()
		if err := r.Add("fuzz", credential.NewSecret(secret)); err != nil {
			t.Fatalf("Add: kind %s", credential.KindName(err))
		}
		var buf bytes.Buffer
		var h slog.Handler = redact.NewHandler(slog.NewJSONHandler(&buf, nil), r)
		if shape%2 == 1 {
			h = redact.NewHandler(slog.NewTextHandler(&buf, nil), r)
		}
		for i := 0; i < int(depth%5); i++ {
			h = h.WithGroup(fmt.Sprintf("g%d", i))
		}
		l := slog.New(h)
		var v any
		switch shape % 10 {
		case 0:
			l.Info(payload)
			check(t, buf.String(), secret)
			return
		case 1:
			l = l.With("attached", payload)
			v = "x"
		case 2:
			v = valuer{payload}
		case 3:
			v = fmt.Errorf("outer: %w", errors.New(payload))
		case 4:
			v = map[string]any{"k": payload}
		case 5:
			v = config{APIKey: payload, inner: payload}
		case 6:
			v = []any{1, payload}
		case 7:
			v = []byte(payload)
		case 8:
			v = &group{Inner: group{Inner: payload}}
		case 9:
			v = slog.GroupValue(slog.String("a", payload))
		}
		l.Info("msg", "v", v)
		check(t, buf.String(), secret)
	})
}

func check(t *testing.T, out, secret string) {
	t.Helper()
	if f := leaked(out, secret); f != "" {
		t.Fatalf("the secret leaked in its %s form", f)
	}
}

// allLeakCases is every class of unregistered secret of the table tests,
// flattened, in a fixed order.
func allLeakCases() (names []string, cases []leakCase) {
	classes := vendorCases()
	for k, v := range shapeCases() {
		classes[k] = v
	}
	classes["long-token"] = longCases()
	keys := make([]string, 0, len(classes))
	for k := range classes {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		for _, c := range classes[k] {
			names = append(names, k)
			cases = append(cases, c)
		}
	}
	return names, cases
}

// FuzzUnregisteredClasses hunts each class of secret nobody registered:
// it picks an instance of a class, puts it between fuzzed text, sends it
// through String, the Handler (message, attribute, map) or the Writer
// (split at fuzzed offsets), and fails if the secret comes out.
func FuzzUnregisteredClasses(f *testing.F) {
	names, cases := allLeakCases()
	for i := 0; i < len(cases); i += 7 {
		f.Add(uint16(i), uint8(i), "before ", " after", uint16(i*13))
	}
	r := redact.New()
	f.Fuzz(func(t *testing.T, pick uint16, via uint8, pre, post string, split uint16) {
		c := cases[int(pick)%len(cases)]
		// Keep the fuzzed text from gluing onto the token, or from opening a
		// key block that would swallow it legitimately.
		text := pre + "\n" + c.text + "\n" + post
		var out string
		switch via % 4 {
		case 0:
			out = r.String(text)
		case 1:
			var buf bytes.Buffer
			slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r)).Info(text, "a", text, "m", map[string]any{"k": text})
			out = buf.String()
			// JSON escapes what it prints.
			js := jsonEsc(c.secret)
			if strings.Contains(out, js) {
				t.Fatalf("%s: the secret leaked through the Handler", names[int(pick)%len(cases)])
			}
			return
		default:
			var buf bytes.Buffer
			w := r.Writer(&buf)
			k := int(split) % (len(text) + 1)
			_, _ = w.Write([]byte(text[:k]))
			_, _ = w.Write([]byte(text[k:]))
			_ = w.Close()
			out = buf.String()
		}
		if strings.Contains(out, c.secret) {
			t.Fatalf("%s: the secret leaked (via %d)", names[int(pick)%len(cases)], via%4)
		}
	})
}

func jsonEsc(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := strings.TrimSpace(b.String())
	return out[1 : len(out)-1]
}

func sortStrings(s []string) { sort.Strings(s) }
