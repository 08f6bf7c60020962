package credential_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
)

const (
	oldKey = "sk-proj-FAKEoldoldoldoldoldoldoldoldoldold00"
	newKey = "sk-proj-FAKEnewnewnewnewnewnewnewnewnewnew00"
)

// rotating is a credential whose Refresh moves to the next value, as a
// rotate.Watch does after the backend was rotated.
type rotating struct {
	*credential.Static
	next      credential.Secret
	refreshes atomic.Int32
	err       error
}

func (r *rotating) Refresh(ctx context.Context) (bool, error) {
	r.refreshes.Add(1)
	if r.err != nil {
		return false, r.err
	}
	if r.next.IsZero() {
		return false, nil
	}
	cur, _ := r.Get(ctx)
	if cur.Equal(r.next) {
		return false, nil
	}
	r.Set(r.next)
	return true, nil
}

// server accepts only the key it is told to accept, records what it saw, and
// answers 401 to anything else.
type server struct {
	*httptest.Server
	accept atomic.Value // string: the header value accepted
	header string
	mu     sync.Mutex
	seen   []string // "<header value matched?> <body>"
	calls  atomic.Int32
}

func newServer(t *testing.T, header, accept string) *server {
	s := &server{header: header}
	s.accept.Store(accept)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		got := r.Header.Get(s.header)
		if s.header == "" {
			got = r.URL.Query().Get("key")
		}
		ok := got == s.accept.Load().(string)
		s.mu.Lock()
		s.seen = append(s.seen, map[bool]string{true: "ok", false: "denied"}[ok]+" "+string(body))
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"invalid_api_key"}}`)
			return
		}
		io.WriteString(w, "hello")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func TestTransportInjectsAndLeavesRequestAlone(t *testing.T) {
	cases := []struct {
		name   string
		inject credential.Injector
		header string
		want   string
	}{
		{"bearer default", nil, "Authorization", "Bearer " + oldKey},
		{"x-api-key", credential.Header("x-api-key"), "X-Api-Key", oldKey},
		{"azure api-key", credential.Header("api-key"), "Api-Key", oldKey},
		{"prefix", credential.HeaderPrefix("Authorization", "Token "), "Authorization", "Token " + oldKey},
		{"query", credential.Query("key"), "", oldKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.header, tc.want)
			c := credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{})
			client := &http.Client{Transport: &credential.Transport{Credential: c, Inject: tc.inject}}
			req, err := http.NewRequest("POST", srv.URL+"/v1/chat?model=x", strings.NewReader("prompt"))
			require.NoError(t, err)
			req.Header.Set("X-Caller", "kept")
			resp, err := client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, []string{"ok prompt"}, srv.log())
			// The caller's request is untouched.
			assert.Empty(t, req.Header.Get("Authorization"))
			assert.Empty(t, req.Header.Get("X-Api-Key"))
			assert.Equal(t, "model=x", req.URL.RawQuery)
			assert.Equal(t, "kept", req.Header.Get("X-Caller"))
		})
	}
}

func TestTransportRetriesOnceAfterRotation(t *testing.T) {
	srv := newServer(t, "Authorization", "Bearer "+newKey)
	c := &rotating{Static: credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{}), next: credential.NewSecret(newKey)}
	var uses []credential.Use
	tr := &credential.Transport{Credential: c, Observe: func(u credential.Use) { uses = append(uses, u) }}
	client := &http.Client{Transport: tr}
	resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("same body"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"denied same body", "ok same body"}, srv.log(), "the body is replayed on the retry")
	assert.EqualValues(t, 1, c.refreshes.Load())
	require.Len(t, uses, 2)
	assert.Equal(t, http.StatusUnauthorized, uses[0].StatusCode)
	assert.Equal(t, 1, uses[0].Attempt)
	assert.Equal(t, http.StatusOK, uses[1].StatusCode)
	assert.Equal(t, 2, uses[1].Attempt)
	assert.NotEqual(t, uses[0].Fingerprint, uses[1].Fingerprint)
	assert.Equal(t, credential.NewSecret(newKey).Fingerprint(), uses[1].Fingerprint)
	assert.Equal(t, "openai", uses[1].Credential)
	assert.Empty(t, uses[1].Request.Header.Get("Authorization"), "Use.Request is the caller's request, without the key")
}

func TestTransportRetriesWhenValueChangedInFlight(t *testing.T) {
	// A push installed the new key while the request was in flight: no
	// refresh is needed, and one that finds nothing new must not stop the
	// retry.
	srv := newServer(t, "Authorization", "Bearer "+newKey)
	c := credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{})
	inner := http.DefaultTransport
	tr := &credential.Transport{Credential: c, Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := inner.RoundTrip(r)
		c.Set(credential.NewSecret(newKey))
		return resp, err
	})}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 2, srv.calls.Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportDoesNotRetry(t *testing.T) {
	t.Run("value unchanged", func(t *testing.T) {
		srv := newServer(t, "Authorization", "Bearer "+newKey)
		c := &rotating{Static: credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{})}
		resp, err := (&http.Client{Transport: &credential.Transport{Credential: c}}).Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.EqualValues(t, 1, srv.calls.Load())
		assert.EqualValues(t, 1, c.refreshes.Load())
	})
	t.Run("refresh fails", func(t *testing.T) {
		srv := newServer(t, "Authorization", "Bearer "+newKey)
		c := &rotating{Static: credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{}), next: credential.NewSecret(newKey), err: credential.ErrUnavailable}
		resp, err := (&http.Client{Transport: &credential.Transport{Credential: c}}).Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.EqualValues(t, 1, srv.calls.Load())
	})
	t.Run("body cannot be replayed", func(t *testing.T) {
		srv := newServer(t, "Authorization", "Bearer "+newKey)
		c := &rotating{Static: credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{}), next: credential.NewSecret(newKey)}
		// An io.Reader that http.NewRequest cannot snapshot: no GetBody.
		req, err := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader("stream")))
		require.NoError(t, err)
		require.Nil(t, req.GetBody)
		resp, err := (&http.Client{Transport: &credential.Transport{Credential: c}}).Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.EqualValues(t, 1, srv.calls.Load())
		assert.EqualValues(t, 0, c.refreshes.Load(), "no refresh when a retry is impossible")
	})
	t.Run("credential without Refresh", func(t *testing.T) {
		srv := newServer(t, "Authorization", "Bearer "+newKey)
		c := credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{})
		resp, err := (&http.Client{Transport: &credential.Transport{Credential: c}}).Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.EqualValues(t, 1, srv.calls.Load())
	})
}

// closeTracker records whether the body was closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestTransportCredentialErrorClosesBody(t *testing.T) {
	c := credential.NewStatic("openai", credential.Secret{}, credential.Metadata{})
	body := &closeTracker{Reader: strings.NewReader("x")}
	req, err := http.NewRequest("POST", "http://127.0.0.1:1/", body)
	require.NoError(t, err)
	_, err = (&credential.Transport{Credential: c}).RoundTrip(req)
	require.Error(t, err)
	assert.True(t, errors.Is(err, credential.ErrNotFound))
	assert.True(t, body.closed, "RoundTrip must close the body on error")

	// Misuse is a typed error: a Transport without a Credential.
	body.closed = false
	_, err = (&credential.Transport{}).RoundTrip(req)
	assert.True(t, errors.Is(err, credential.ErrInvalid), "got %v", err)
	assert.True(t, body.closed)
}

// BenchmarkTransport compares a request through Transport with one through
// a bare http.Transport, on the same loopback server, in one run.
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	run := func(b *testing.B, rt http.RoundTripper, auth bool) {
		client := &http.Client{Transport: rt}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if auth {
				req.Header.Set("Authorization", "Bearer "+oldKey)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("bare", func(b *testing.B) {
		base := &http.Transport{}
		defer base.CloseIdleConnections()
		run(b, base, true)
	})
	b.Run("credential", func(b *testing.B) {
		base := &http.Transport{}
		defer base.CloseIdleConnections()
		c := credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{})
		run(b, &credential.Transport{Credential: c, Base: base}, false)
	})
}
