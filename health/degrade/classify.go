package degrade

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
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
	// Permanent: the request itself is wrong (other 4xx), or the call failed
	// before anything was sent; retrying is useless.
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

// httpError is the method set the API errors of openai-go v3 and
// anthropic-sdk-go v2 share (their *Error carries the HTTP response): it
// lets degrade read the status and headers of the answer without depending
// on either SDK.
type httpError interface {
	error
	DumpResponse(body bool) []byte
}

// rawJSON is the body accessor of the same SDK errors.
type rawJSON interface{ RawJSON() string }

// ClassifyError is the default [Classifier]. In order:
//   - context errors are Canceled;
//   - a [*StatusError] anywhere in the chain, or an SDK API error exposing
//     DumpResponse (openai-go v3's and anthropic-sdk-go v2's *Error), is
//     classified by its status and headers like [ClassifyResponse];
//   - an [*Error] of this package by its Kind;
//   - credential.ErrPermission, ErrRevoked and ErrExpired are Rejected;
//     credential.ErrInvalid and ErrNotFound are Permanent;
//     credential.ErrUnavailable is Retryable;
//   - network failures — a *url.Error from an http.Client (but not a bad TLS
//     certificate), a net.Error, a connection reset or refused, an
//     unexpected EOF, an error whose Timeout() or Temporary() is true — are
//     Retryable;
//   - anything else is Permanent: an error the call raised before sending
//     anything (an SDK's missing credentials or bad options) will fail the
//     same way again, and says nothing about the dependency's health.
//
// Wrap an error of yours with a [*StatusError] or credential.ErrUnavailable
// to have it retried, or give the policy [WithClassifier].
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
	var he httpError
	if errors.As(err, &he) {
		if o, ok := classifySDK(he); ok {
			return o
		}
	}
	var de *Error
	if errors.As(err, &de) {
		switch {
		case de.Kind == ErrCredentialRejected:
			return Outcome{Class: Rejected}
		case de.Kind == ErrQuotaExhausted:
			return Outcome{Class: Quota}
		case de.Kind == ErrPermanent:
			return Outcome{Class: Permanent}
		case errors.Is(de.Kind, credential.ErrPermission):
			return Outcome{Class: Rejected}
		case errors.Is(de.Kind, credential.ErrInvalid):
			return Outcome{Class: Permanent}
		}
		return Outcome{Class: Retryable, RetryAfter: de.RetryAfter}
	}
	switch {
	case errors.Is(err, credential.ErrPermission), errors.Is(err, credential.ErrRevoked), errors.Is(err, credential.ErrExpired):
		return Outcome{Class: Rejected}
	case errors.Is(err, credential.ErrInvalid), errors.Is(err, credential.ErrNotFound):
		return Outcome{Class: Permanent}
	case errors.Is(err, credential.ErrUnavailable):
		return Outcome{Class: Retryable}
	}
	if networkFailure(err) {
		return Outcome{Class: Retryable}
	}
	return Outcome{Class: Permanent}
}

// networkFailure reports whether err says a request was sent, or tried, and
// the network or the server failed it.
func networkFailure(err error) bool {
	if badCertificate(err) {
		return false
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var tm interface{ Timeout() bool }
	if errors.As(err, &tm) && tm.Timeout() {
		return true
	}
	var tp interface{ Temporary() bool }
	return errors.As(err, &tp) && tp.Temporary()
}

// classifySDK reads the status line and headers an SDK error dumps.
func classifySDK(he httpError) (o Outcome, ok bool) {
	defer func() {
		if recover() != nil { // an SDK error without a response
			o, ok = Outcome{}, false
		}
	}()
	dump := he.DumpResponse(false)
	if len(dump) == 0 {
		return Outcome{}, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(dump)), nil)
	if err != nil {
		return Outcome{}, false
	}
	resp.Body.Close()
	body := ""
	if rj, ok := he.(rawJSON); ok {
		body = rj.RawJSON()
		if len(body) > 4<<10 {
			body = body[:4<<10]
		}
	}
	return classifyStatus(resp.StatusCode, resp.Header, body, time.Time{}), true
}

// badCertificate reports whether err is a TLS certificate failure: no retry
// will fix it.
func badCertificate(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// ClassifyResponse classifies an HTTP response. It honours x-should-retry
// ("true"/"false"), reads Retry-After (seconds or HTTP date) and
// retry-after-ms, and, on a 429 without them, the reset of the exhausted
// limit ([ParseRateLimit]); it reads at most 4 KiB of the body of a 429 or
// 403 to tell a quota error (insufficient_quota, billing, credit) from a
// rate limit; the body is restored so the caller can still read it. now is
// used for dates.
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
		if now.IsZero() {
			now = time.Now()
		}
		o.RetryAfter = retryAfter(h, now)
		if o.RetryAfter == 0 && code == http.StatusTooManyRequests {
			if rl := ParseRateLimit(h, now); rl.Remaining == 0 && rl.Reset.After(now) {
				o.RetryAfter = rl.Reset.Sub(now)
			}
		}
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

// retryAfter reads the server's requested wait: retry-after-ms, then
// Retry-After (seconds or HTTP date).
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
			if d := t.Sub(now); d > 0 {
				return d
			}
		}
	}
	return 0
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
		resp.Body = io.NopCloser(bytes.NewReader(buf))
	} else {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), rest), rest}
	}
	return string(buf)
}
