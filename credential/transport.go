package credential

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// Injector puts a secret into an outgoing request. The request it is given
// is already a clone owned by the [Transport]: it may set headers and change
// the URL freely. Injectors must not keep the value.
type Injector func(r *http.Request, s Secret)

// Bearer sets "Authorization: Bearer <value>" (OpenAI, Anthropic's OAuth,
// most REST APIs). It is the default of [Transport].
func Bearer() Injector {
	return func(r *http.Request, s Secret) {
		r.Header.Set("Authorization", "Bearer "+s.Reveal())
	}
}

// Header sets the header name to the value as it is ("x-api-key" for
// Anthropic, "api-key" for Azure OpenAI, "Api-Key" for Pinecone).
func Header(name string) Injector {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request, s Secret) {
		r.Header[name] = []string{s.Reveal()}
	}
}

// HeaderPrefix sets the header name to prefix+value ("Authorization",
// "Token " for some vector databases).
func HeaderPrefix(name, prefix string) Injector {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request, s Secret) {
		r.Header[name] = []string{prefix + s.Reveal()}
	}
}

// Query sets the URL query parameter param to the value ("key" for Google's
// Generative Language API). Keys in URLs end up in access logs and error
// messages: prefer a header where the API accepts one.
func Query(param string) Injector {
	return func(r *http.Request, s Secret) {
		q := r.URL.Query()
		q.Set(param, s.Reveal())
		r.URL.RawQuery = q.Encode()
	}
}

// Use describes one attempt of a request made through a [Transport], for
// usage audit (the health package's audit consumes it). It holds no secret
// value.
type Use struct {
	// Credential is the credential's name; Fingerprint the fingerprint of the
	// value sent.
	Credential  string
	Fingerprint string
	// Request is the caller's request, as the caller made it: it does not hold
	// the credential. Read its context, method, host and path; do not modify
	// it or read its body.
	Request *http.Request
	// StatusCode is the response's status, or 0 when Err is set.
	StatusCode int
	// Err is the transport error, or nil.
	Err error
	// Start is when the attempt started; Duration how long it took to get the
	// response headers (or the error).
	Start    time.Time
	Duration time.Duration
	// Attempt is 1 for the first attempt and 2 for the retry after a refresh.
	Attempt int
}

// Transport is an http.RoundTripper that puts the current value of a
// [Credential] into every request, and hands the request to Base. Give it to
// any SDK that takes an *http.Client (openai-go, anthropic-sdk-go, the
// vector-database clients) and the SDK never holds a raw key:
//
//	client := &http.Client{Transport: &credential.Transport{Credential: key}}
//	openai.NewClient(option.WithHTTPClient(client))
//
// The caller's request is never modified: the credential is set on a clone.
//
// # Redirects
//
// A key goes only to the host it was meant for. When an http.Client follows
// a redirect, the request for the new location passes through the Transport
// too; the credential is put on it only when [InjectAllowed] says so — the
// same host or a subdomain of it, never from https to plain http — and a
// redirect elsewhere goes out without it, whatever the Injector (Bearer,
// Header, HeaderPrefix or Query). This is net/http's rule for an
// Authorization header set by the caller.
//
// When a response is 401 Unauthorized and the body can be replayed (no body,
// or Request.GetBody set, as http.NewRequest does for in-memory bodies),
// Transport looks for a newer value: the credential's current one, and if
// that is still the value sent and the credential implements
// [RejectionRefresher] or [Refresher], the one a refresh brings. When the value differs from the one sent (the
// key was rotated under the request), it retries once with it. Otherwise
// the 401 is returned as it came.
//
// A Transport is safe for concurrent use. Its fields must not be changed
// after first use.
type Transport struct {
	// Credential supplies the value. Required.
	Credential Credential
	// Inject puts the value into the request. Nil means [Bearer].
	Inject Injector
	// Base performs the request. Nil means http.DefaultTransport.
	Base http.RoundTripper
	// Observe, when set, is called after every attempt with what was used and
	// how it went (usage audit). It runs on the request's goroutine: keep it
	// fast.
	Observe func(Use)
}

// errNoRefresh marks a credential that cannot refresh.
var errNoRefresh = errors.New("credential: no refresh")

// RoundTrip implements http.RoundTripper. With no Credential it returns an
// *[Error] wrapping [ErrInvalid]. A request that [InjectAllowed] refuses (a
// redirect to another host, or from https to http) is handed to Base as it
// is, without the credential, and is not observed.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Credential == nil {
		closeBody(req)
		return nil, &Error{Op: "round trip", Kind: ErrInvalid, Reason: "the Transport has no Credential"}
	}
	if !InjectAllowed(req) {
		return t.base().RoundTrip(req)
	}
	ctx := req.Context()
	s, err := t.Credential.Get(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.attempt(ctx, req, req.Body, s, 1)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if !replayable(req) {
		return resp, nil
	}
	// The key may have changed under the request: already (a push or a poll
	// installed a new one while it was in flight), or at the backend, which
	// a refresh finds out. Either way, what matters is whether the value now
	// differs from the one sent.
	s2, err := t.Credential.Get(ctx)
	if err == nil && s2.Equal(s) {
		var rerr error = errNoRefresh
		switch r := t.Credential.(type) {
		case RejectionRefresher:
			_, rerr = r.RefreshRejected(ctx, s)
		case Refresher:
			_, rerr = r.Refresh(ctx)
		}
		if rerr == nil {
			s2, err = t.Credential.Get(ctx)
		}
	}
	if err != nil || s2.IsZero() || s2.Equal(s) {
		return resp, nil
	}
	var body io.ReadCloser
	if req.Body != nil && req.Body != http.NoBody {
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	// The first response is discarded: drain a little so the connection can
	// be reused, then close it.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	return t.attempt(ctx, req, body, s2, 2)
}

// attempt sends one clone of req carrying s, with body as its body.
func (t *Transport) attempt(ctx context.Context, req *http.Request, body io.ReadCloser, s Secret, n int) (*http.Response, error) {
	r := req.Clone(ctx)
	r.Body = body
	inject := t.Inject
	if inject == nil {
		inject = bearer
	}
	inject(r, s)
	base := t.base()
	var start time.Time
	if t.Observe != nil {
		start = time.Now()
	}
	resp, err := base.RoundTrip(r)
	if t.Observe != nil {
		u := Use{
			Credential:  t.Credential.Name(),
			Fingerprint: s.Fingerprint(),
			Request:     req,
			Err:         err,
			Start:       start,
			Duration:    time.Since(start),
			Attempt:     n,
		}
		if resp != nil {
			u.StatusCode = resp.StatusCode
		}
		t.Observe(u)
	}
	return resp, err
}

func (t *Transport) base() http.RoundTripper {
	if t.Base == nil {
		return http.DefaultTransport
	}
	return t.Base
}

// bearer is Bearer() without an allocation per call.
var bearer = Bearer()

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
