package keypool

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

// Transport is an http.RoundTripper that puts a key of a [Pool] into every
// request and feeds each answer back to the pool:
//   - every response's rate-limit headers ([degrade.ParseRateLimit]) are
//     read: a key whose remaining budget is 0 cools until the reset, so the
//     next request goes to another key before this one gets a 429;
//   - a 429 cools the key for its Retry-After, and the request moves to
//     another key at once; when every key cools, the 429 is returned with
//     Retry-After set to when the first key is back;
//   - a 401 or 403 asks the key to refresh; a key whose value did not
//     change is quarantined across requests ([WithQuarantine]), as is a key
//     out of quota, and the request moves to another key.
//
// Moving to another key is not a retry: the request is refused for that key
// only, and at most every key is tried once. Put the Transport under a
// [degrade.RoundTripper], which owns the retries:
//
//	hc := &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(nil, pool, nil), policy)}
//
// A key is never put into a redirect to another host: a redirect keeps the
// key only to the same host or a subdomain of it (net/http's rule for
// sensitive headers); to another host it goes without one.
//
// A Transport is safe for concurrent use.
type Transport struct {
	base   http.RoundTripper
	pool   *Pool
	inject credential.Injector
}

// NewTransport returns a Transport sending requests through base (nil means
// http.DefaultTransport) with the keys of pool, put into each request by
// inject (nil means credential.Bearer()).
func NewTransport(base http.RoundTripper, pool *Pool, inject credential.Injector) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	if inject == nil {
		inject = credential.Bearer()
	}
	return &Transport{base: base, pool: pool, inject: inject}
}

// Unwrap returns the transport requests are sent through.
func (t *Transport) Unwrap() http.RoundTripper { return t.base }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !credential.InjectAllowed(req) {
		return t.base.RoundTrip(req)
	}
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
	var lastErr error
	for tries := 0; tries <= len(t.pool.keys); tries++ {
		key, _, err := t.pool.pick()
		if err != nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, err
		}
		s, err := key.cred.Get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// The key has no usable value (expired, revoked, missing): take
			// it out and let another key serve.
			if !t.pool.reject(ctx, key, credential.Secret{}, degrade.Rejected) {
				lastErr = err
			}
			continue
		}
		var body io.ReadCloser = req.Body
		if req.Body != nil && req.Body != http.NoBody && !(first && req.GetBody != nil) {
			if body, err = getBody(); err != nil {
				return nil, err
			}
		}
		first = false
		r := req.Clone(ctx)
		r.Body = body
		t.inject(r, s)
		res, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err // the network, not the key: the policy decides
		}
		now := t.pool.o.clock.Now()
		if rl := degrade.ParseRateLimit(res.Header, now); rl.Exhausted(now) {
			t.pool.coolUntil(key, rl.Reset)
		}
		if res.StatusCode < 400 {
			return res, nil
		}
		out := degrade.ClassifyResponse(res, now)
		switch {
		case res.StatusCode == http.StatusTooManyRequests && out.Class == degrade.Retryable:
			t.pool.cool(key, out.RetryAfter)
			ok, wait := t.pool.otherReady(key)
			if !ok {
				if wait > 0 {
					// Every key cools: say when the first is back.
					res.Header = res.Header.Clone()
					res.Header.Del("Retry-After")
					res.Header.Set("Retry-After-Ms", strconv.FormatFloat(float64(wait)/float64(time.Millisecond), 'f', -1, 64))
				}
				return res, nil
			}
		case out.Class == degrade.Rejected || out.Class == degrade.Quota:
			refreshed := t.pool.reject(ctx, key, s, out.Class)
			if ok, _ := t.pool.otherReady(key); !refreshed && !ok {
				return res, nil
			}
		default:
			return res, nil
		}
		if tries == len(t.pool.keys) {
			return res, nil
		}
		drain(res)
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, &degrade.Error{Dependency: t.pool.name, Kind: ErrNoKey}
}

func drain(res *http.Response) {
	_, _ = io.CopyN(io.Discard, res.Body, 4<<10)
	res.Body.Close()
}
