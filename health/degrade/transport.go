package degrade

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/credkit/credkit/credential"
)

// RoundTripper is an http.RoundTripper that applies a [Policy] (retry and
// circuit breaker) to every request, for SDKs that take an *http.Client
// (openai-go, anthropic-sdk-go, vector-database clients). Turn the SDK's own
// retries off (option.WithMaxRetries(0)) so that one loop owns the attempts.
//
// Compose it outside the credential transport (or a keypool.Transport), so
// that every retry gets the current key and the credential transport's own
// 401 refresh-and-retry runs within one attempt:
//
//	client := &http.Client{Transport: degrade.NewRoundTripper(
//		&credential.Transport{Credential: key}, policy)}
//
// Each attempt sends a clone of the request; a body is replayed with
// Request.GetBody (set by http.NewRequest for in-memory bodies), and a body
// without GetBody is read into memory once. Responses classified Retryable
// are drained and closed before the next attempt. When the attempts end the
// last response is returned as it came (a 503, a 401, a 400…), so that the
// SDK builds its usual typed error; an error is returned only when no
// response is left to give: an open breaker before any attempt, a context
// that ended, or a transport error.
//
// # Stacking
//
// Inside another policy's attempt ([Policy.Do], [Call], or another
// RoundTripper above it) it makes exactly one attempt and reports the
// response's classification to the outer policy, which owns the retries.
// A RoundTripper finds another one below it when it is its base, or the
// Base of a credential.Transport, or below any transport with an
// Unwrap() http.RoundTripper method (keypool.Transport has one); it then
// marks its requests so that the lower one makes one attempt.
//
// # Streaming
//
// A streamed response (Content-Type text/event-stream) is retried only
// before its first byte: the RoundTripper waits for that byte within the
// attempt, so a stream that dies before it is another attempt. After it the
// response is the caller's, and a failure while reading it is the caller's
// too: nothing is replayed in the middle of a stream. A key rotated while a
// stream is read does not touch it; the next request gets the new key.
//
// A RoundTripper is safe for concurrent use.
type RoundTripper struct {
	base   http.RoundTripper
	policy *Policy
	mark   bool // another RoundTripper sits below: mark the requests
}

// NewRoundTripper returns a RoundTripper sending requests through base (nil
// means http.DefaultTransport) under policy.
func NewRoundTripper(base http.RoundTripper, policy *Policy) *RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &RoundTripper{base: base, policy: policy, mark: below(base)}
}

// below reports whether a RoundTripper sits somewhere under base.
func below(base http.RoundTripper) bool {
	for i := 0; i < 32 && base != nil; i++ {
		switch b := base.(type) {
		case *RoundTripper:
			return true
		case *credential.Transport:
			base = b.Base
		case interface{ Unwrap() http.RoundTripper }:
			base = b.Unwrap()
		default:
			return false
		}
	}
	return false
}

// Unwrap returns the transport the RoundTripper sends requests through.
func (t *RoundTripper) Unwrap() http.RoundTripper { return t.base }

// RoundTrip implements http.RoundTripper.
func (t *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	getBody := req.GetBody
	if req.Body != nil && req.Body != http.NoBody && getBody == nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	first := true
	var resp *http.Response
	err := t.policy.run(ctx, t.mark, func(actx context.Context) (Outcome, error) {
		if resp != nil {
			discard(resp)
			resp = nil
		}
		var body io.ReadCloser
		switch {
		case req.Body == nil || req.Body == http.NoBody:
			body = req.Body
		case first && req.GetBody != nil:
			body = req.Body
		default:
			var err error
			if body, err = getBody(); err != nil {
				return Outcome{Class: Permanent}, err
			}
		}
		first = false
		r := req
		if body != req.Body || actx != ctx {
			r = req.Clone(actx)
			r.Body = body
		}
		res, err := t.base.RoundTrip(r)
		if err != nil {
			if actx.Err() != nil {
				return Outcome{Class: Canceled}, err
			}
			out := ClassifyError(err)
			if out.Class == Permanent && !badCertificate(err) && credential.Kind(err) == nil {
				// The transport failed the request on its way out or back
				// (a closed idle connection, a broken HTTP/2 stream): the
				// network, not the request.
				out.Class = Retryable
			}
			return out, err
		}
		var out Outcome // Success: below 400 (health.ClassifyHTTP's OK)
		if res.StatusCode >= 400 {
			out = ClassifyResponse(res, t.policy.o.clock.Now())
		}
		if out.Class == Success {
			if isStream(res) {
				if err := firstByte(res); err != nil {
					if actx.Err() != nil {
						return Outcome{Class: Canceled}, err
					}
					return Outcome{Class: Retryable}, err
				}
			}
			resp = res
			return out, nil
		}
		resp = res
		return out, &StatusError{StatusCode: res.StatusCode}
	})
	if err == nil {
		return resp, nil
	}
	if resp != nil && ctx.Err() == nil {
		// The attempts are over: hand the SDK the last answer.
		return resp, nil
	}
	if resp != nil {
		discard(resp)
	}
	return nil, err
}

func isStream(res *http.Response) bool {
	ct := res.Header["Content-Type"] // canonical already: no canonicalising on the hot path
	return len(ct) > 0 && len(ct[0]) >= 17 && equalFold(ct[0][:17], "text/event-stream") &&
		res.Body != nil && res.Body != http.NoBody
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// firstByte waits for a stream's first byte and puts it back; an error
// means the stream failed before it (the body is closed then).
func firstByte(res *http.Response) error {
	var b [1]byte
	n, err := io.ReadFull(res.Body, b[:])
	if n == 1 {
		res.Body = &prefixed{b: b[0], rc: res.Body}
		return nil
	}
	if err == io.EOF {
		// An empty stream: nothing to replay, nothing lost.
		return nil
	}
	res.Body.Close()
	return err
}

// prefixed is a body whose first byte was read ahead.
type prefixed struct {
	b    byte
	done bool
	rc   io.ReadCloser
}

func (p *prefixed) Read(buf []byte) (int, error) {
	if !p.done {
		if len(buf) == 0 {
			return 0, nil
		}
		p.done = true
		buf[0] = p.b
		if len(buf) == 1 {
			return 1, nil
		}
		n, err := p.rc.Read(buf[1:])
		if err == io.EOF {
			err = nil
			if n == 0 {
				return 1, nil
			}
		}
		return n + 1, err
	}
	return p.rc.Read(buf)
}

func (p *prefixed) Close() error { return p.rc.Close() }

func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}
