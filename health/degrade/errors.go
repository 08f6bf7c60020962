package degrade

import (
	"errors"
	"strings"
	"time"

	"github.com/credkit/credkit/credential"
)

// sentinel is an error value that also matches the credential sentinel of its
// kind, so that code which only knows the credential error model still
// understands it (errors.Is(ErrCircuitOpen, credential.ErrUnavailable)).
type sentinel struct {
	msg  string
	kind error
}

func (s *sentinel) Error() string        { return s.msg }
func (s *sentinel) Is(target error) bool { return target == s.kind }

// The failures this package reports. Every error it returns matches one of
// them with errors.Is, and through them one of the credential sentinels.
// The sub-packages add their own (queue.ErrFull, keypool.ErrNoKey) in the
// same [*Error].
var (
	// ErrCircuitOpen: the dependency's breaker is open, the call was not made.
	// It matches credential.ErrUnavailable.
	ErrCircuitOpen error = &sentinel{"circuit open", credential.ErrUnavailable}
	// ErrCredentialRejected: the dependency answered 401 or 403 and a refresh
	// of the credential did not give a new value. It matches
	// credential.ErrPermission.
	ErrCredentialRejected error = &sentinel{"credential rejected", credential.ErrPermission}
	// ErrQuotaExhausted: the account is out of quota or credit (OpenAI's
	// insufficient_quota); retrying cannot help. It matches
	// credential.ErrUnavailable.
	ErrQuotaExhausted error = &sentinel{"quota exhausted", credential.ErrUnavailable}
	// ErrRateLimited: the dependency asked to wait longer than the policy's
	// Retry-After ceiling, or the queue item's deadline; the call failed fast.
	// It matches credential.ErrUnavailable.
	ErrRateLimited error = &sentinel{"rate limited", credential.ErrUnavailable}
	// ErrRetriesExhausted: every attempt failed, or the total time budget ran
	// out. It matches credential.ErrUnavailable.
	ErrRetriesExhausted error = &sentinel{"retries exhausted", credential.ErrUnavailable}
	// ErrPermanent: the dependency refused the request for a reason retrying
	// cannot fix (a 4xx other than 401, 403, 408, 409, 429). It matches
	// credential.ErrInvalid.
	ErrPermanent error = &sentinel{"permanent failure", credential.ErrInvalid}
)

// Error is the error this package returns for a failed call: which
// dependency, which failure (Kind, one of the sentinels above), after how
// many attempts, and the last underlying error. It never holds a secret
// value. errors.Is matches Kind (and through it the credential sentinel) and
// everything Err wraps, so context errors stay visible:
// errors.Is(err, context.DeadlineExceeded) holds when the deadline ended the
// retries.
type Error struct {
	// Dependency is the name the policy was created with.
	Dependency string
	// Kind is one of ErrCircuitOpen, ErrCredentialRejected,
	// ErrQuotaExhausted, ErrRateLimited, ErrRetriesExhausted, ErrPermanent,
	// or a sub-package's sentinel (queue.ErrFull, keypool.ErrNoKey).
	Kind error
	// Attempts is how many calls were made (0 when none was).
	Attempts int
	// RetryAfter is the wait the dependency asked for, when it asked.
	RetryAfter time.Duration
	// Err is the last underlying error, or nil.
	Err error
}

// Error describes the failure: the dependency, the kind, the attempts, the
// Retry-After and the last underlying error. It holds no secret.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("degrade: ")
	if e.Dependency != "" {
		b.WriteString(e.Dependency)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.Error())
	if e.Attempts > 0 {
		b.WriteString(" after ")
		b.WriteString(itoa(e.Attempts))
		b.WriteString(" attempt")
		if e.Attempts > 1 {
			b.WriteString("s")
		}
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after ")
		b.WriteString(e.RetryAfter.String())
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is e's Kind or the credential sentinel it stands
// for.
func (e *Error) Is(target error) bool {
	return target == e.Kind || errors.Is(e.Kind, target)
}

// Unwrap returns the last underlying error.
func (e *Error) Unwrap() error { return e.Err }

// StatusError is an error a wrapped call can return (or wrap) to say what
// HTTP status the dependency answered, so that the policy classifies it like
// a response. (openai-go v3 and anthropic-sdk-go v2 errors need no such
// adapting: [ClassifyError] reads them as they are.) Header may be nil; Body, when set, is a
// short excerpt used only to recognise quota errors and is never included in
// the error text.
type StatusError struct {
	StatusCode int
	Header     map[string][]string
	Body       string
}

// Error returns "status <code>"; the body is never included.
func (e *StatusError) Error() string { return "status " + itoa(e.StatusCode) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
