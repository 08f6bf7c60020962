package credential

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Redacted is what every printed or encoded form of a [Secret] shows.
const Redacted = "[REDACTED]"

// Secret holds a sensitive value: an API key, a token, a password.
//
// Every way Go prints or encodes a value shows [Redacted]: all fmt verbs with
// any flags and widths, slog (through [Secret.LogValue]), encoding/json,
// encoding/xml and encoding.TextMarshaler. encoding/gob refuses to encode it.
// Even fmt's reflection-based printing of a struct that holds a Secret in an
// unexported field cannot reach the value: it is stored behind a pointer, which
// fmt prints as an address. [Secret.Reveal] is the only way to get the value
// out; call it at the last moment, where the value is handed to the wire.
//
// A Secret is immutable and safe for concurrent use. Copies share the value.
// The zero Secret is empty and usable: it reveals "" and is [Secret.IsZero].
type Secret struct {
	p *payload
}

// payload holds the value behind a second pointer: fmt prints a pointer
// met inside a struct as an address, and a bad verb on an unexported field
// makes fmt print this struct at depth 0, where value is one level deeper
// still, so the value itself is never reached.
type payload struct {
	value *string

	fpOnce sync.Once
	fp     string
}

// NewSecret returns a Secret holding value. An empty value gives the zero Secret.
func NewSecret(value string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{p: &payload{value: &value}}
}

// Reveal returns the value. It is the only way out of a Secret.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p.value
}

// IsZero reports whether the Secret is empty.
func (s Secret) IsZero() bool { return s.p == nil }

// Len returns the length of the value in bytes. Lengths are not secret in
// practice (key formats fix them), and validation needs them.
func (s Secret) Len() int {
	if s.p == nil {
		return 0
	}
	return len(*s.p.value)
}

// Equal reports whether s and t hold the same value. The comparison of two
// values of equal length runs in time independent of their content; values of
// different lengths compare unequal at once.
func (s Secret) Equal(t Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(t.Reveal())) == 1
}

// fpKey is the key of fingerprints and content IDs.
type fpKey struct {
	key      []byte
	operator bool // given by SetFingerprintKey, not drawn at random
}

// fingerprintKey is set once: by SetFingerprintKey, or by the first
// fingerprint or content ID, which draws a random per-process key.
var fingerprintKey atomic.Pointer[fpKey]

func currentKey() []byte {
	if k := fingerprintKey.Load(); k != nil {
		return k.key
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	fingerprintKey.CompareAndSwap(nil, &fpKey{key: b})
	return fingerprintKey.Load().key
}

// MinFingerprintKeyLen is the least number of bytes a fingerprint key
// given to [SetFingerprintKey] must hold.
const MinFingerprintKeyLen = 16

// SetFingerprintKey makes key the key of every [Secret.Fingerprint] and
// [ContentID] of this process, instead of a random per-process key, so
// that the replicas of a fleet that share the key show the same
// fingerprint (and the same content version IDs) for the same value, and
// keep them across restarts: on-call can then tell whether replicas hold
// the same version.
//
// The key is set once, in main, before anything computes a fingerprint or
// a content ID (opening or watching a credential does): the key of a
// process never changes under its fingerprints. Called after that, or with
// another key than one already set, it changes nothing and returns an error
// wrapping [ErrInvalid]; setting the same key again is allowed. A key
// shorter than [MinFingerprintKeyLen] bytes is refused too.
//
// The key is a secret of the operator's own, not one of the credentials it
// fingerprints: anyone holding it can check a guessed value against a
// fingerprint. Read it before opening credentials, from a source that does
// not compute version IDs itself — os.Getenv, os.ReadFile, or a backend
// with versions of its own (the env and file providers hash what they
// read, which would fix the random key first):
//
//	key, ok := os.LookupEnv("CREDKIT_FINGERPRINT_KEY")
//	if ok {
//		if err := credential.SetFingerprintKey(credential.NewSecret(key)); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// Without it, the default, each process draws its own random key: a
// fingerprint cannot be checked against a guess offline nor correlated
// across processes.
func SetFingerprintKey(key Secret) error {
	if key.Len() < MinFingerprintKeyLen {
		return &Error{Op: "set fingerprint key", Kind: ErrInvalid, Reason: "the key must hold at least " + strconv.Itoa(MinFingerprintKeyLen) + " bytes"}
	}
	k := &fpKey{key: []byte(key.Reveal()), operator: true}
	if fingerprintKey.CompareAndSwap(nil, k) {
		return nil
	}
	if cur := fingerprintKey.Load(); cur.operator && hmac.Equal(cur.key, k.key) {
		return nil
	}
	return &Error{Op: "set fingerprint key", Kind: ErrInvalid, Reason: "a fingerprint or content ID was already computed, or another key set: set the key first thing in main"}
}

// Fingerprint returns a short keyed hash of the value (HMAC-SHA-256, 16 hex
// digits), safe to log and to show in an inventory: equal values have
// equal fingerprints within one process, so it tells versions apart and
// finds shared keys without showing them. The key is random per process,
// or the operator's own across a fleet (see [SetFingerprintKey]). The zero
// Secret's fingerprint is "". The result is computed once per Secret.
func (s Secret) Fingerprint() string {
	if s.p == nil {
		return ""
	}
	s.p.fpOnce.Do(func() { s.p.fp = keyedSum("", *s.p.value) })
	return s.p.fp
}

// contentIDLabel separates content IDs from fingerprints under one key.
const contentIDLabel = "credkit content id\x00"

// ContentID returns the version ID of a backend without versions of its
// own (env, file): 16 hex digits of HMAC-SHA-256 of content under the
// fingerprint key (see [SetFingerprintKey]). Like a fingerprint, it tells
// versions apart without letting anyone confirm a guessed value offline,
// and it is stable across a fleet exactly when fingerprints are.
func ContentID(content string) string { return keyedSum(contentIDLabel, content) }

// macs pools HMAC-SHA-256 states under the fingerprint key. The key is
// fixed by the first Get (New calls currentKey), and never changes after.
var macs = sync.Pool{New: func() any { return hmac.New(sha256.New, currentKey()) }}

// keyedSum returns 16 hex digits of HMAC-SHA-256(key, label+value).
func keyedSum(label, value string) string {
	m := macs.Get().(hash.Hash)
	m.Reset()
	if label != "" {
		_, _ = io.WriteString(m, label)
	}
	_, _ = io.WriteString(m, value)
	var buf [sha256.Size]byte
	sum := m.Sum(buf[:0])
	macs.Put(m)
	var out [16]byte
	hex.Encode(out[:], sum[:8])
	return string(out[:])
}

// String returns [Redacted].
func (s Secret) String() string { return Redacted }

// GoString returns [Redacted], for %#v.
func (s Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb, flag and width prints
// [Redacted] (padded to the width asked for, never the value).
func (s Secret) Format(f fmt.State, verb rune) {
	w, ok := f.Width()
	if !ok || w <= len(Redacted) {
		_, _ = io.WriteString(f, Redacted)
		return
	}
	pad := strings.Repeat(" ", w-len(Redacted))
	if f.Flag('-') {
		_, _ = io.WriteString(f, Redacted+pad)
		return
	}
	_, _ = io.WriteString(f, pad+Redacted)
}

// LogValue implements slog.LogValuer: slog prints [Redacted].
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON encodes the Secret as the JSON string "[REDACTED]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used by encoding/xml, slog's
// text handler and many config encoders): it returns [Redacted].
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// errGob is returned by GobEncode.
var errGob = errors.New("credential: a Secret cannot be gob-encoded")

// GobEncode refuses: gob is a transport format, and a Secret must not travel
// by accident. Send Reveal() explicitly if you mean to.
func (s Secret) GobEncode() ([]byte, error) { return nil, errGob }
