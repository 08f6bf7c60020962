package credential

import (
	"context"
	"errors"
	"strings"
)

// The sentinel errors. Every error credkit returns wraps one of them (or is a
// context error), so callers branch with errors.Is:
//
//	if errors.Is(err, credential.ErrNotFound) { ... }
var (
	// ErrNotFound: the secret, or the field selected in it, does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPermission: the backend refused access (IAM, file mode, a KMS key).
	ErrPermission = errors.New("permission denied")
	// ErrUnavailable: the backend could not be reached or is failing
	// (throttling, 5xx, network). Retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalid: the input or the value is malformed (bad ref, bad JSON, empty
	// or oversized value, invalid UTF-8, unsafe file mode, wrong environment).
	ErrInvalid = errors.New("invalid")
	// ErrExpired: the version's Expires time has passed.
	ErrExpired = errors.New("expired")
	// ErrRevoked: the credential was revoked (by a kill switch or the backend).
	ErrRevoked = errors.New("revoked")
	// ErrClosed: the credential, provider or set was closed.
	ErrClosed = errors.New("closed")
)

// sentinels lists the kinds in the order [Kind] tests them.
var sentinels = []error{ErrNotFound, ErrPermission, ErrUnavailable, ErrInvalid, ErrExpired, ErrRevoked, ErrClosed}

// Error is the one error type of credkit: it names the credential, the ref and
// the problem, and carries the kind (a sentinel) and the cause.
//
// Its text never holds a secret value: Reason is written by credkit from the
// shape of the input ("field \"api_key\" is missing"), never from its content,
// and backends only pass causes whose text is free of values. A ref that looks
// like a URL is printed without user info or query values.
type Error struct {
	// Op is the operation: "fetch", "check", "open", "get", "refresh"...
	Op string
	// Name is the credential's name, when known.
	Name string
	// Ref is the backend reference (or URL), when known.
	Ref string
	// Kind is one of the sentinel errors.
	Kind error
	// Reason says what is wrong, in words free of any value.
	Reason string
	// Err is the underlying cause, or nil.
	Err error
}

// NewError returns an *Error of the given kind. kind should be one of the
// sentinels; a context error given as cause is kept (errors.Is(err,
// context.Canceled) holds).
func NewError(op string, kind error, ref, reason string, cause error) *Error {
	return &Error{Op: op, Kind: kind, Ref: ref, Reason: reason, Err: cause}
}

// Error returns "credential NAME: OP REF: KIND: REASON: CAUSE", leaving out
// the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("credential")
	if e.Name != "" {
		b.WriteString(" ")
		b.WriteString(e.Name)
	}
	b.WriteString(":")
	if e.Op != "" {
		b.WriteString(" ")
		b.WriteString(e.Op)
	}
	if e.Ref != "" {
		b.WriteString(" ")
		b.WriteString(SafeRef(e.Ref))
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil && e.Err != e.Kind {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is e's kind, so errors.Is(err, ErrNotFound) works.
func (e *Error) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Kind returns the sentinel err wraps (ErrNotFound, ...), context.Canceled or
// context.DeadlineExceeded for a context error, or nil when err is nil or of
// no known kind.
func Kind(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return nil
}

// KindName returns a short stable name for err's kind, safe to log and to
// expose in a status: "not_found", "permission", "unavailable", "invalid",
// "expired", "revoked", "closed", "canceled", "deadline", "unknown", or "" for
// a nil error. Status reports use it instead of the error text, which may come
// from a third party.
func KindName(err error) string {
	switch Kind(err) {
	case nil:
		if err == nil {
			return ""
		}
		return "unknown"
	case ErrNotFound:
		return "not_found"
	case ErrPermission:
		return "permission"
	case ErrUnavailable:
		return "unavailable"
	case ErrInvalid:
		return "invalid"
	case ErrExpired:
		return "expired"
	case ErrRevoked:
		return "revoked"
	case ErrClosed:
		return "closed"
	case context.Canceled:
		return "canceled"
	default:
		return "deadline"
	}
}
