package redact_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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
