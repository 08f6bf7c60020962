package vault

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/credkit/credkit/credential"
)

// ServerError is Vault's answer to a failed request: the HTTP status and
// Vault's "errors" array. It is the cause (errors.As) of the
// *credential.Error a request failure returns. Vault's messages name paths
// and reasons ("permission denied", "Vault is sealed"), never secret values;
// each is cut to 200 bytes and stripped of control characters all the same.
type ServerError struct {
	Status int
	Errors []string
}

// Error returns "Vault answered STATUS: E1; E2".
func (e *ServerError) Error() string {
	s := "Vault answered " + strconv.Itoa(e.Status)
	if len(e.Errors) > 0 {
		s += ": " + strings.Join(e.Errors, "; ")
	}
	return s
}

func newServerError(status int, msgs []string) *ServerError {
	e := &ServerError{Status: status}
	for i, m := range msgs {
		if i == 8 {
			break
		}
		m = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, m)
		if len(m) > 200 {
			m = m[:200]
		}
		e.Errors = append(e.Errors, strings.TrimSpace(m))
	}
	return e
}

func (e *ServerError) mentions(word string) bool {
	for _, m := range e.Errors {
		if strings.Contains(strings.ToLower(m), word) {
			return true
		}
	}
	return false
}

// mapErr turns a failed request into a credential error: 404 ErrNotFound,
// 401 and 403 ErrPermission, 400 ErrInvalid, 429, 412, 5xx (sealed,
// standby) and network failures ErrUnavailable. Context errors are returned
// as they are.
func mapErr(op, ref string, status int, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var re *api.ResponseError
	var se *ServerError
	if errors.As(err, &re) {
		if status == 0 {
			status = re.StatusCode
		}
		msgs := re.Errors
		if re.RawError {
			msgs = nil // not Vault's JSON (a proxy's page?): not ours to quote
		}
		se = newServerError(re.StatusCode, msgs)
	} else if !errors.As(err, &se) {
		se = nil
	}
	if status == 0 {
		// No answer: the transport failed. Its error names the address,
		// never a value; it is kept as the cause.
		return &credential.Error{Op: op, Ref: ref, Kind: credential.ErrUnavailable, Reason: "Vault could not be reached", Err: stripURL(err)}
	}
	if se == nil {
		se = &ServerError{Status: status}
	}
	kind, reason := credential.ErrUnavailable, "Vault failed"
	switch {
	case status == http.StatusNotFound:
		kind, reason = credential.ErrNotFound, "no secret at this path"
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		kind, reason = credential.ErrPermission, "Vault denied the request (ACL policy or token)"
	case status == http.StatusTooManyRequests:
		reason = "Vault's rate limit quota was hit"
	case status == http.StatusBadRequest:
		kind, reason = credential.ErrInvalid, "Vault refused the request"
	case se.mentions("sealed"):
		reason = "Vault is sealed"
	case se.mentions("standby"):
		reason = "Vault's node is a standby"
	case status == http.StatusPreconditionFailed:
		reason = "Vault's replica is not yet up to date"
	case status >= 500:
		reason = "Vault failed (" + strconv.Itoa(status) + ")"
	}
	return &credential.Error{Op: op, Ref: ref, Kind: kind, Reason: reason, Err: se}
}

// stripURL keeps the kind of a transport error without its text, which
// quotes the request URL.
func stripURL(err error) error {
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) && ue.Timeout() {
		return errors.New("timeout")
	}
	return errors.New("transport error")
}

// retryAfter reads a Retry-After header in seconds (default 1 s, at most
// 5 minutes).
func retryAfter(h http.Header) time.Duration {
	d := time.Second
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			d = time.Duration(n) * time.Second
		}
	}
	return min(d, 5*time.Minute)
}
