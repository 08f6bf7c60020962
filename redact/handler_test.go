package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/redact"
)

type panicJSON struct{}

func (panicJSON) MarshalJSON() ([]byte, error) { panic("MarshalJSON of " + known) }

type panicText struct{}

func (panicText) MarshalText() ([]byte, error) { panic(errors.New("MarshalText " + known)) }

type panicString struct{}

func (panicString) String() string { panic(42) }

type panicError struct{}

func (panicError) Error() string { panic("Error " + known) }

type panicValuer struct{}

func (panicValuer) LogValue() slog.Value { panic("LogValue " + known) }

type nilStringer struct{ s string }

func (n *nilStringer) String() string { return n.s }

type deep struct{ Next *deep }

// oddValues are values a bare JSON or text handler survives.
func oddValues() map[string]any {
	self := map[string]any{"a": 1}
	self["self"] = self
	list := []any{1}
	list = append(list, nil)
	list[1] = list
	var d *deep
	for i := 0; i < 500; i++ {
		d = &deep{Next: d}
	}
	type selfRef struct {
		Name string
		Me   *selfRef
	}
	sr := &selfRef{Name: "x"}
	sr.Me = sr
	return map[string]any{
		"nil *time.Time":     (*time.Time)(nil),
		"nil *netip.Addr":    (*netip.Addr)(nil),
		"nil *nilStringer":   (*nilStringer)(nil),
		"nil error":          error(nil),
		"nil map":            map[string]any(nil),
		"panicking JSON":     panicJSON{},
		"panicking text":     panicText{},
		"panicking String":   panicString{},
		"panicking Error":    panicError{},
		"panicking LogValue": panicValuer{},
		"panic in a map":     map[string]any{"x": panicJSON{}},
		"panic in a slice":   []any{panicString{}},
		"self map":           self,
		"self slice":         list,
		"self struct":        sr,
		"500 deep":           d,
		"func":               func() {},
		"chan":               make(chan int),
		"complex":            complex(1, 2),
		"huge":               make([]int, 200_000),
		"NaN":                map[string]float64{"x": 0},
	}
}

// TestHandlerNeverPanics: no value makes the Handler panic or overflow its
// stack; a panic is recovered and printed as slog does, redacted.
func TestHandlerNeverPanics(t *testing.T) {
	r := newR(t)
	for _, mk := range []func(io.Writer) slog.Handler{
		func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) },
		func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) },
	} {
		for name, v := range oddValues() {
			// The bare text handler itself overflows on the cyclic ones (fmt
			// has no cycle check); the redacting one never hands them on.
			var buf bytes.Buffer
			l := slog.New(redact.NewHandler(mk(&buf), r))
			assert.NotPanics(t, func() {
				l.Info("odd", "v", v)
				l.Info("odd", "g", slog.GroupValue(slog.Any("v", v)))
				l.With("w", v).Info("attached")
			}, name)
			noLeak(t, name, buf.String(), known)
		}
	}
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	l.Info("p", "v", panicJSON{})
	assert.Contains(t, buf.String(), `"v":"!PANIC: MarshalJSON of [REDACTED]"`)
	buf.Reset()
	m := map[string]any{}
	m["m"] = m
	l.Info("c", "v", m)
	assert.Contains(t, buf.String(), `"v":"!ERROR: value contains a cycle"`)
}

// headerError carries a header value in its own JSON form.
type headerError struct{ header string }

func (e headerError) Error() string { return "upstream returned 401" }
func (e headerError) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"status": "401", "sent": "Authorization: Bearer " + e.header})
}

// TestErrorsWithMarshalJSON: the JSON handler prints an error that has
// MarshalJSON with it, not with Error; that form is checked too.
func TestErrorsWithMarshalJSON(t *testing.T) {
	r := newR(t)
	for _, v := range []string{known, "FAKEopaqueToken0123456789abcdef"} {
		var buf bytes.Buffer
		l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
		l.Error("call failed", "err", headerError{v})
		l.Error("call failed", "err", fmt.Errorf("wrapped: %w", headerError{v}))
		assert.NotContains(t, buf.String(), v)
		assert.Contains(t, buf.String(), `"status":"401"`, "the error keeps its JSON shape")
	}
}

// TestShapeIsKept: a map or struct that held a secret stays a JSON object
// with only the secret replaced.
func TestShapeIsKept(t *testing.T) {
	r := newR(t)
	type Conn struct {
		Host  string `json:"host"`
		Port  int    `json:"port"`
		URL   string `json:"url"`
		Flags []string
	}
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	l.Info("cfg",
		"m", map[string]any{"key": known, "model": "gpt-4o", "n": 3, "nested": map[string]any{"ok": true}},
		"s", Conn{Host: "db", Port: 5432, URL: "postgres://app:FAKEpw0rd@db/app", Flags: []string{"a", known}},
	)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	m, ok := rec["m"].(map[string]any)
	require.True(t, ok, "the map is a JSON object, not %T", rec["m"])
	assert.Equal(t, "[REDACTED]", m["key"])
	assert.Equal(t, "gpt-4o", m["model"])
	assert.Equal(t, float64(3), m["n"])
	assert.Equal(t, map[string]any{"ok": true}, m["nested"])
	s, ok := rec["s"].(map[string]any)
	require.True(t, ok, "the struct is a JSON object, not %T", rec["s"])
	assert.Equal(t, "db", s["host"])
	assert.Equal(t, float64(5432), s["port"])
	assert.Equal(t, "postgres://app:[REDACTED]@db/app", s["url"])
	assert.Equal(t, []any{"a", "[REDACTED]"}, s["Flags"])
}

// TestWithAttrsRecheckedWhenValuesChange: a logger built with With before
// a value was added stops printing it once it is added.
func TestWithAttrsRecheckedWhenValuesChange(t *testing.T) {
	const later = "FAKE-added-later-Zq8Wv3Lk7Nm2"
	r := redact.New()
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	child := l.With("db", later).WithGroup("g").With("dsn2", "x="+later)
	child.Info("before")
	assert.Contains(t, buf.String(), later, "not known yet")
	buf.Reset()
	require.NoError(t, r.Add("db", credential.NewSecret(later)))
	child.Info("after")
	l.With("db", later).Info("new child")
	assert.NotContains(t, buf.String(), later)
	r.Remove(credential.NewSecret(later))
	buf.Reset()
	child.Info("removed")
	assert.Contains(t, buf.String(), later, "attached attributes follow removals too")
}

// TestAnyValuesFormattedOnce: the walk never calls fmt on a whole value
// (which is how a cyclic map used to overflow the stack) and calls each
// printing method once per check.
func TestAnyValuesFormattedOnce(t *testing.T) {
	r := redact.New()
	c := &countingStringer{}
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(io.Discard, nil), r))
	l.Info("x", "v", c)
	assert.Equal(t, 1, c.n, "String called %d times by the Handler", c.n)
}

type countingStringer struct{ n int }

func (c *countingStringer) String() string { c.n++; return "fine" }

func TestSensitiveAttrOfEveryKind(t *testing.T) {
	r := redact.New()
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	l.Info("k", "password", 12345678, "apiKey", true, "token", 3.25, "secret", time.Unix(1234567890, 0), "max_tokens", 512)
	out := buf.String()
	for _, s := range []string{"12345678", "3.25", "2009"} {
		assert.NotContains(t, out, s)
	}
	assert.Contains(t, out, `"max_tokens":512`)
	assert.True(t, strings.Count(out, "[REDACTED]") >= 4)
}

// TestKeyVerdictsFollowValues: the verdict on an attribute key is
// remembered between records, and forgotten when the known values change,
// so that a key logged clean before a value was added is redacted after.
func TestKeyVerdictsFollowValues(t *testing.T) {
	const later = "FAKEkeyAddedLater0000Zq8Wv3Lk7"
	r := redact.New()
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	for i := 0; i < 3; i++ {
		l.Info("m", later, 1, "api_key", "FAKEsk0000000000000000000000", "plain", "v")
	}
	assert.True(t, strings.Contains(buf.String(), later), "a value not known yet is printed")
	assert.False(t, strings.Contains(buf.String(), "FAKEsk00000"), "a sensitive key's value, first record and later ones, is printed")
	buf.Reset()
	require.NoError(t, r.Add("k", credential.NewSecret(later)))
	l.Info("m", later, 1)
	assert.False(t, strings.Contains(buf.String(), later), "a key added after its verdict was cached is printed")
	assert.Equal(t, 1, strings.Count(buf.String(), "REDACTED"), "replacements in the record")
}

// TestValueVerdictsFollowValues: a short value logged clean record after
// record (and so cached clean) is redacted once it is added as a known
// value, in the message, an attribute and a struct field alike.
func TestValueVerdictsFollowValues(t *testing.T) {
	const later = "FAKEvalueAddedLater00Zq8Wv3Lk7"
	type cfg struct{ Model string }
	r := redact.New()
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	for i := 0; i < 3; i++ {
		l.Info(later, "model", later, "cfg", cfg{later})
	}
	assert.Equal(t, 9, strings.Count(buf.String(), later), "a value not known yet is not printed as it is")
	buf.Reset()
	require.NoError(t, r.Add("k", credential.NewSecret(later)))
	l.Info(later, "model", later, "cfg", cfg{later})
	assert.False(t, strings.Contains(buf.String(), later), "a value cached clean before it was added is printed")
	assert.Equal(t, 3, strings.Count(buf.String(), "REDACTED"), "replacements in the record")
}

// TestCachedNamesStillRedact: struct fields and map keys are judged once
// per type and per key, and every later record is redacted the same way,
// also when a map's many keys compete for the cache.
func TestCachedNamesStillRedact(t *testing.T) {
	type creds struct {
		User     string
		Password string `json:"pw"`
		APIKey   string `json:"api_key"`
	}
	r := redact.New()
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	for i := 0; i < 3; i++ {
		m := map[string]any{"password": fmt.Sprintf("FAKEpw%02dxyzzy", i)}
		for k := 0; k < 600; k++ { // more keys than the cache has slots
			m[fmt.Sprintf("field_%d", k)] = k
		}
		l.Info("m", "c", creds{User: "ann", Password: "FAKEhunter2hunter2", APIKey: "FAKEk0000000000000"}, "m", m)
	}
	out := buf.String()
	for _, leak := range []string{"FAKEhunter2", "FAKEk0000", "FAKEpw00", "FAKEpw01", "FAKEpw02"} {
		assert.False(t, strings.Contains(out, leak), "a value under a sensitive name is printed (%d bytes)", len(leak))
	}
	assert.Equal(t, 3, strings.Count(out, `"User":"ann"`), "the rest of the struct is kept")
}
