package degrade

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
)

// Class is what a call's outcome means for the policies.
type Class int

const (
	// Success: the call worked.
	Success Class = iota
	// Retryable: a transient failure (429, 408, 409, 5xx including 529,
	// timeouts, connection resets); another attempt may work.
	Retryable
	// Rejected: the credential was refused (401, 403).
	Rejected
	// Quota: the account is out of quota or credit; retrying is useless.
	Quota
	// Permanent: the request itself is wrong (other 4xx); retrying is useless.
	Permanent
	// Canceled: the caller's context ended.
	Canceled
)

var classNames = [...]string{"success", "retryable", "rejected", "quota", "permanent", "canceled"}

// String returns the class in lower case ("retryable").
func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + itoa(int(c)) + ")"
}

// Outcome is a classified result: its class and the wait the dependency
// asked for (zero when it did not).
type Outcome struct {
	Class      Class
	RetryAfter time.Duration
}

// Classifier turns an error returned by a wrapped call into an [Outcome]. A
// nil error must give Success.
type Classifier func(err error) Outcome

// ClassifyError is the default [Classifier]: context errors are Canceled; a
// [*StatusError] anywhere in the chain is classified by its status like
// [ClassifyResponse]; credential.ErrPermission, ErrRevoked and ErrExpired are
// Rejected; credential.ErrInvalid and ErrNotFound are Permanent; timeouts,
// connection resets, unexpected EOFs, credential.ErrUnavailable and unknown
// errors are Retryable.
func ClassifyError(err error) Outcome {
	if err == nil {
		return Outcome{Class: Success}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A per-attempt timeout (http.Client.Timeout) also ends in
		// DeadlineExceeded: the policy retries it while the caller's own
		// context is alive.
		return Outcome{Class: Canceled}
	}
	var se *StatusError
	if errors.As(err, &se) {
		return classifyStatus(se.StatusCode, http.Header(se.Header), se.Body, time.Time{})
	}
	var de *Error
	if errors.As(err, &de) {
		switch de.Kind {
		case ErrCredentialRejected, ErrNoKey:
			return Outcome{Class: Rejected}
		case ErrQuotaExhausted:
			return Outcome{Class: Quota}
		case ErrPermanent:
			return Outcome{Class: Permanent}
		}
		return Outcome{Class: Retryable, RetryAfter: de.RetryAfter}
	}
	switch {
	case errors.Is(err, credential.ErrPermission), errors.Is(err, credential.ErrRevoked), errors.Is(err, credential.ErrExpired):
		return Outcome{Class: Rejected}
	case errors.Is(err, credential.ErrInvalid), errors.Is(err, credential.ErrNotFound):
		return Outcome{Class: Permanent}
	}
	return Outcome{Class: Retryable}
}

// ClassifyResponse classifies an HTTP response. It honours x-should-retry
// ("true"/"false"), reads Retry-After (seconds or HTTP date), retry-after-ms
// and x-ratelimit-reset-requests / x-ratelimit-reset-tokens (OpenAI's
// "1s", "6m0s" durations), and reads at most 4 KiB of the body of a 429 to
// tell a quota error (insufficient_quota, billing, credit) from a rate limit;
// the body is restored so the caller can still read it. now is used for
// HTTP-date Retry-After values.
func ClassifyResponse(resp *http.Response, now time.Time) Outcome {
	body := ""
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden {
		body = peekBody(resp)
	}
	return classifyStatus(resp.StatusCode, resp.Header, body, now)
}

func classifyStatus(code int, h http.Header, body string, now time.Time) Outcome {
	// health.ClassifyHTTP is the shared classification; degrade refines it
	// with what matters for retrying: quota bodies, 408/409, x-should-retry
	// and the server's requested wait.
	var o Outcome
	switch health.ClassifyHTTP(code, nil) {
	case health.OK:
		return Outcome{Class: Success}
	case health.Rejected:
		o.Class = Rejected
		if code == http.StatusForbidden && isQuotaBody(body) {
			o.Class = Quota
		}
	case health.RateLimited:
		o.Class = Retryable
		if isQuotaBody(body) {
			o.Class = Quota
		}
	case health.Unavailable:
		o.Class = Retryable
	default:
		o.Class = Permanent
		if code == http.StatusRequestTimeout || code == http.StatusConflict {
			o.Class = Retryable
		}
	}
	if h != nil {
		switch strings.ToLower(h.Get("X-Should-Retry")) {
		case "true":
			if o.Class == Permanent {
				o.Class = Retryable
			}
		case "false":
			if o.Class == Retryable {
				o.Class = Permanent
			}
		}
		o.RetryAfter = retryAfter(h, now)
	}
	return o
}

func isQuotaBody(body string) bool {
	if body == "" {
		return false
	}
	b := strings.ToLower(body)
	return strings.Contains(b, "insufficient_quota") || strings.Contains(b, "quota_exceeded") ||
		strings.Contains(b, "billing") || strings.Contains(b, "credit balance")
}

// retryAfter reads the server's requested wait from the headers.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 {
				return time.Duration(s * float64(time.Second))
			}
			return 0
		}
		if t, err := http.ParseTime(v); err == nil {
			if now.IsZero() {
				now = time.Now()
			}
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	var d time.Duration
	for _, k := range [...]string{"X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens"} {
		if v := h.Get(k); v != "" {
			if x, err := time.ParseDuration(v); err == nil && x > d {
				d = x
			} else if s, err := strconv.ParseFloat(v, 64); err == nil && time.Duration(s*float64(time.Second)) > d {
				d = time.Duration(s * float64(time.Second))
			}
		}
	}
	return d
}

// peekBody reads up to 4 KiB of resp.Body and puts it back in front of the
// rest.
func peekBody(resp *http.Response) string {
	if resp.Body == nil || resp.Body == http.NoBody {
		return ""
	}
	buf := make([]byte, 4<<10)
	n, err := io.ReadFull(resp.Body, buf)
	buf = buf[:n]
	rest := resp.Body
	if err != nil {
		rest.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(buf)))
	} else {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(strings.NewReader(string(buf)), rest), rest}
	}
	return string(buf)
}
