package degrade

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"

	"github.com/credkit/credkit/credential"
)

// RoundTripper is an http.RoundTripper that applies a [Policy] (retry and
// circuit breaker) to every request, for SDKs that take an *http.Client
// (openai-go, anthropic-sdk-go, vector-database clients). Turn the SDK's own
// retries off (option.WithMaxRetries(0)) so that attempts do not multiply.
//
// Compose it outside the credential transport, so that every retry gets the
// current key and the credential transport's own 401 refresh-and-retry runs
// within one attempt:
//
//	client := &http.Client{Transport: degrade.NewRoundTripper(
//		&credential.Transport{Credential: key}, policy)}
//
// With [WithPool] it injects the keys of a [Pool] itself and needs no
// credential transport.
//
// Each attempt sends a clone of the request; a body is replayed with
// Request.GetBody (set by http.NewRequest for in-memory bodies), and a body
// without GetBody is read into memory once. Responses classified Retryable
// are drained and closed before the next attempt. When the attempts end the
// last response is returned as it came (a 503, a 401, a 400…), so that the
// SDK builds its usual typed error; an error is returned only when no
// response is left to give: an open breaker before any attempt, a context
// that ended, an exhausted key pool, or a transport error.
//
// A RoundTripper is safe for concurrent use.
type RoundTripper struct {
	base   http.RoundTripper
	policy *Policy
	pool   *Pool
	inject credential.Injector
}

// NewRoundTripper returns a RoundTripper sending requests through base (nil
// means http.DefaultTransport) under policy. It reads [WithPool].
func NewRoundTripper(base http.RoundTripper, policy *Policy, opts ...Option) *RoundTripper {
	o := build(opts)
	if base == nil {
		base = http.DefaultTransport
	}
	inject := o.inject
	if inject == nil {
		inject = credential.Bearer()
	}
	return &RoundTripper{base: base, policy: policy, pool: o.pool, inject: inject}
}

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
	err := t.policy.run(ctx, func(ctx context.Context) (Outcome, error) {
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
		var key *poolKey
		var sent credential.Secret
		if t.pool != nil || body != req.Body {
			r = req.Clone(ctx)
			r.Body = body
		}
		if t.pool != nil {
			var at error
			key, _, at = t.pool.pick()
			if at != nil {
				closeReader(body)
				var de *Error
				if errors.As(at, &de) && de.Kind == ErrNoKey {
					return Outcome{Class: Rejected}, at
				}
				return Outcome{Class: Retryable, RetryAfter: de.RetryAfter}, at
			}
			s, err := key.cred.Get(ctx)
			if err != nil {
				closeReader(body)
				if ctx.Err() != nil {
					return Outcome{Class: Canceled}, err
				}
				// The key has no usable value (expired, revoked, missing):
				// take it out and let another key serve.
				if t.pool.reject(ctx, key, credential.Secret{}, Rejected) {
					return Outcome{Class: switchKey}, err // refreshed: try again
				}
				if ok, _ := t.pool.otherReady(key); ok {
					return Outcome{Class: switchKey}, err
				}
				return ClassifyError(err), err
			}
			sent = s
			t.inject(r, s)
		}
		res, err := t.base.RoundTrip(r)
		if err != nil {
			if ctx.Err() != nil {
				return Outcome{Class: Canceled}, err
			}
			if badCertificate(err) {
				return Outcome{Class: Permanent}, err
			}
			return Outcome{Class: Retryable}, err
		}
		out := ClassifyResponse(res, t.policy.o.clock.Now())
		if out.Class == Success {
			resp = res
			return out, nil
		}
		resp = res
		serr := &StatusError{StatusCode: res.StatusCode}
		if key != nil {
			switch out.Class {
			case Retryable:
				if res.StatusCode == http.StatusTooManyRequests {
					t.pool.cool(key, out.RetryAfter)
					ok, wait := t.pool.otherReady(key)
					if ok {
						return Outcome{Class: switchKey}, serr
					}
					// Every key cools: wait for the first one.
					out.RetryAfter = wait
				}
			case Rejected, Quota:
				refreshed := t.pool.reject(ctx, key, sent, out.Class)
				if ok, _ := t.pool.otherReady(key); refreshed || ok {
					return Outcome{Class: switchKey}, serr
				}
			}
		}
		return out, serr
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

// badCertificate reports whether err is a TLS certificate failure: no retry
// will fix it.
func badCertificate(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

func closeReader(b io.ReadCloser) {
	if b != nil {
		b.Close()
	}
}
