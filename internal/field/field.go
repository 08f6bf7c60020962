// Package field splits "#field" selectors off refs and selects fields of
// JSON secrets, for every backend, with errors that never quote the value.
package field

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/credkit/credkit/credential"
)

// Split returns the part of ref before the first '#' and the field after it
// ("" when there is none).
func Split(ref string) (base, field string) {
	base, field, _ = strings.Cut(ref, "#")
	return base, field
}

// JSON returns the field name of the JSON object in value. A string field is
// returned as it is; a number or boolean as its JSON text; objects, arrays
// and null are refused. Errors name the field and the problem, never the
// content: a JSON syntax error reports only its byte offset.
func JSON(value []byte, name string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return "", syntaxError(err)
	}
	raw, ok := obj[name]
	if !ok {
		return "", &credential.Error{Kind: credential.ErrNotFound, Reason: "field " + strconv.Quote(name) + " is missing"}
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || raw[0] == '{' || raw[0] == '[' || string(raw) == "null":
		return "", &credential.Error{Kind: credential.ErrInvalid, Reason: "field " + strconv.Quote(name) + " is not a string, number or boolean"}
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", syntaxError(err)
		}
		return s, nil
	default:
		return string(raw), nil
	}
}

func syntaxError(err error) error {
	reason := "value is not a JSON object"
	if se, ok := err.(*json.SyntaxError); ok {
		reason = "value is not valid JSON (syntax error at byte " + strconv.FormatInt(se.Offset, 10) + ")"
	}
	// The cause is dropped on purpose: json's messages quote characters of
	// the input.
	return &credential.Error{Kind: credential.ErrInvalid, Reason: reason}
}

// Check validates a value about to become a Secret: not empty, not over max
// bytes (0 means no limit), valid UTF-8.
func Check(value string, max int) error {
	switch {
	case strings.TrimSpace(value) == "":
		return &credential.Error{Kind: credential.ErrInvalid, Reason: "value is empty"}
	case max > 0 && len(value) > max:
		return &credential.Error{Kind: credential.ErrInvalid, Reason: "value is " + strconv.Itoa(len(value)) + " bytes, over the limit of " + strconv.Itoa(max)}
	case !utf8.ValidString(value):
		return &credential.Error{Kind: credential.ErrInvalid, Reason: "value is not valid UTF-8"}
	}
	return nil
}

// Value is the one check of a value about to become a Secret, for every
// backend: it trims one trailing newline ("\n" or "\r\n", as files and
// shell-written secrets end), then refuses with ErrInvalid a value that is
// empty, over max bytes (0 means no limit), not valid UTF-8, or that holds
// a NUL, CR or LF: such a value would fail only later, deep inside an HTTP
// request or a driver, or split a header in two. The error never quotes the
// value. Backends call it on the final value (after "#field" selection),
// never on a whole JSON document, which may span lines.
func Value(value string, max int) (string, error) {
	if v, ok := strings.CutSuffix(value, "\n"); ok {
		value = strings.TrimSuffix(v, "\r")
	}
	if err := Check(value, max); err != nil {
		return "", err
	}
	switch {
	case strings.IndexByte(value, 0) >= 0:
		return "", &credential.Error{Kind: credential.ErrInvalid, Reason: "value holds a NUL byte"}
	case strings.ContainsAny(value, "\r\n"):
		return "", &credential.Error{Kind: credential.ErrInvalid, Reason: "value holds a line break (CR or LF) that is not a single trailing newline"}
	}
	return value, nil
}

// Annotate fills op, ref and name into err when it is a *credential.Error
// without them, and returns it.
func Annotate(err error, op, ref string) error {
	if ce, ok := err.(*credential.Error); ok {
		if ce.Op == "" {
			ce.Op = op
		}
		if ce.Ref == "" {
			ce.Ref = ref
		}
	}
	return err
}

// ContentID is the version ID of backends without versions:
// [credential.ContentID], a keyed hash of the value under the fingerprint
// key (random per process, or the operator's own; see
// credential.SetFingerprintKey), never a plain hash that would let a
// guessed value be confirmed offline.
func ContentID(value string) string { return credential.ContentID(value) }
