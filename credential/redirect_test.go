package credential_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
)

const redirectKey = "sk-proj-FAKEredirectredirectredirectredir00"

// hop is one request a redirect server saw.
type hop struct {
	host, path string
	key        bool // the credential arrived, in whatever form
}

// redirector is one httptest server that plays every host: a client whose
// dialer sends every host name to it follows real redirects over real
// sockets, and only DNS is faked. /start?code=C&to=URL answers C with
// Location URL; every other path answers 200.
type redirector struct {
	mu   sync.Mutex
	hops []hop
}

func (rd *redirector) handler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	sawKey := strings.Contains(r.Header.Get("Authorization"), redirectKey) ||
		r.Header.Get("X-Api-Key") == redirectKey || r.URL.Query().Get("key") == redirectKey
	rd.mu.Lock()
	rd.hops = append(rd.hops, hop{host: r.Host, path: r.URL.Path, key: sawKey})
	rd.mu.Unlock()
	if r.URL.Path == "/start" || r.URL.Path == "/bounce" {
		var code int
		_, _ = fmt.Sscan(r.URL.Query().Get("code"), &code)
		http.Redirect(w, r, r.URL.Query().Get("to"), code)
		return
	}
	_, _ = io.WriteString(w, "landed")
}

func (rd *redirector) take() []hop {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	h := rd.hops
	rd.hops = nil
	return h
}

// dialAll returns a transport that connects every host name to addr.
func dialAll(addr string) *http.Transport {
	d := &net.Dialer{}
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
}

func injectors() map[string]credential.Injector {
	return map[string]credential.Injector{
		"bearer":        credential.Bearer(),
		"header":        credential.Header("x-api-key"),
		"header prefix": credential.HeaderPrefix("Authorization", "Token "),
		"query":         credential.Query("key"),
	}
}

// TestTransportNeverFollowsRedirectToAnotherHost follows 301, 302, 307 and
// 308 redirects with a real http.Client, for every injection style, and
// checks that the key reaches the landing host exactly when net/http would
// send a caller's own Authorization header there.
func TestTransportNeverFollowsRedirectToAnotherHost(t *testing.T) {
	rd := &redirector{}
	srv := httptest.NewServer(http.HandlerFunc(rd.handler))
	t.Cleanup(srv.Close)
	base := dialAll(srv.Listener.Addr().String())
	t.Cleanup(base.CloseIdleConnections)

	bounce := func(to string) string {
		return "http://evil.example/bounce?code=302&to=" + url.QueryEscape(to)
	}
	targets := []struct {
		to   string
		want bool
	}{
		{"/land", true},                                 // relative: the same host
		{"http://api.example/land", true},               // the same host, default port
		{"http://api.example:8443/land", true},          // the same host, another port
		{"http://API.example/land", false},              // compared as written, as net/http does
		{"http://eu.api.example/land", true},            // a subdomain
		{"http://evil.example/land", false},             // another host
		{"http://example/land", false},                  // the parent domain
		{"http://notapi.example/land", false},           // a suffix that is not a subdomain
		{"http://api.example.evil.example/land", false}, // the host as a prefix
		{"http://127.0.0.1/land", false},                // an address
		{bounce("http://api.example/land"), false},      // back home after leaving
		{bounce("http://eu.api.example/land"), false},   // a subdomain after leaving
	}
	codes := []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}
	for name, inject := range injectors() {
		for _, code := range codes {
			for _, tc := range targets {
				t.Run(fmt.Sprintf("%s/%d/%s", name, code, tc.to), func(t *testing.T) {
					start := "http://api.example:" + "80/start?code=" + fmt.Sprint(code) + "&to=" + url.QueryEscape(tc.to)
					c := credential.NewStatic("openai", credential.NewSecret(redirectKey), credential.Metadata{})
					client := &http.Client{Transport: &credential.Transport{Credential: c, Inject: inject, Base: base}}
					req, err := http.NewRequest(http.MethodPost, start, strings.NewReader("prompt"))
					require.NoError(t, err)
					resp, err := client.Do(req)
					require.NoError(t, err)
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					require.Equal(t, http.StatusOK, resp.StatusCode)
					hops := rd.take()
					require.GreaterOrEqual(t, len(hops), 2)
					assert.True(t, hops[0].key, "the first request carries the key")
					last := hops[len(hops)-1]
					assert.Equal(t, "/land", last.path)
					assert.Equal(t, tc.want, last.key, "rule: the key follows a redirect only to the same host or a subdomain (landed on %s)", last.host)
					for _, h := range hops[1 : len(hops)-1] {
						assert.False(t, h.key, "the key never reaches %s", h.host)
					}

					// net/http's own rule for a caller's Authorization agrees.
					plain := &http.Client{Transport: base}
					req, err = http.NewRequest(http.MethodPost, start, strings.NewReader("prompt"))
					require.NoError(t, err)
					req.Header.Set("Authorization", "Bearer "+redirectKey)
					resp, err = plain.Do(req)
					require.NoError(t, err)
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					plainHops := rd.take()
					assert.Equal(t, plainHops[len(plainHops)-1].key, last.key, "credkit and net/http agree on %s", tc.to)
				})
			}
		}
	}
}

// An https → http redirect to the same host never carries the key (net/http
// would send a caller's Authorization there; credkit does not).
func TestTransportRefusesRedirectToPlainHTTP(t *testing.T) {
	rd := &redirector{}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(rd.handler))
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(http.HandlerFunc(rd.handler))
	t.Cleanup(plainSrv.Close)
	base := tlsSrv.Client().Transport.(*http.Transport).Clone()
	d := &net.Dialer{}
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasSuffix(addr, ":443") {
			return d.DialContext(ctx, network, tlsSrv.Listener.Addr().String())
		}
		return d.DialContext(ctx, network, plainSrv.Listener.Addr().String())
	}
	t.Cleanup(base.CloseIdleConnections)
	for name, inject := range injectors() {
		t.Run(name, func(t *testing.T) {
			c := credential.NewStatic("openai", credential.NewSecret(redirectKey), credential.Metadata{})
			client := &http.Client{Transport: &credential.Transport{Credential: c, Inject: inject, Base: base}}
			for _, to := range []string{"http://example.com/land", "https://example.com/land"} {
				resp, err := client.Get("https://example.com/start?code=307&to=" + url.QueryEscape(to))
				require.NoError(t, err)
				resp.Body.Close()
				hops := rd.take()
				require.Len(t, hops, 2)
				assert.True(t, hops[0].key)
				assert.Equal(t, strings.HasPrefix(to, "https:"), hops[1].key, "rule: never from https to plain http (%s)", to)
			}
		})
	}
}

func TestInjectAllowed(t *testing.T) {
	chain := func(urls ...string) *http.Request {
		var prev *http.Request
		for _, u := range urls {
			r := httptest.NewRequest(http.MethodGet, u, nil)
			if prev != nil {
				r.Response = &http.Response{Request: prev}
			}
			prev = r
		}
		return prev
	}
	cases := []struct {
		req  *http.Request
		want bool
	}{
		{chain("https://api.example.com/v1"), true},
		{chain("https://api.example.com/v1", "https://api.example.com/v2"), true},
		{chain("https://api.example.com/v1", "https://eu.api.example.com/v2"), true},
		{chain("https://api.example.com/v1", "https://evil.example/v2"), false},
		{chain("https://api.example.com/v1", "http://api.example.com/v2"), false},
		{chain("http://api.example.com/v1", "https://api.example.com/v2"), true},
		{chain("https://[::1]:8443/v1", "https://[::1]:9443/v2"), true},
		{chain("https://api.example.com/v1", "https://evil.example/v2", "https://api.example.com/v3"), false},
		{&http.Request{URL: &url.URL{Scheme: "https", Host: "a"}, Response: &http.Response{}}, false},
		{nil, false},
	}
	for i, tc := range cases {
		assert.Equal(t, tc.want, credential.InjectAllowed(tc.req), "case %d", i)
	}
}
