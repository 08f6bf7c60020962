package gcp_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/gcp"
	"github.com/credkit/credkit/rotate"
)

// tokenEndpoint is a fake Google OAuth 2.0 token endpoint for the JWT
// bearer grant of a service account key.
type tokenEndpoint struct {
	*httptest.Server
	n      atomic.Int32
	mu     sync.Mutex
	scopes []string // the scope claim of each assertion
	fail   atomic.Int32
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	te := &tokenEndpoint{}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		parts := strings.Split(r.Form.Get("assertion"), ".")
		var claims struct {
			Scope string `json:"scope"`
			Aud   string `json:"aud"`
		}
		if len(parts) == 3 {
			b, _ := base64.RawURLEncoding.DecodeString(parts[1])
			_ = json.Unmarshal(b, &claims)
		}
		te.mu.Lock()
		te.scopes = append(te.scopes, claims.Scope)
		te.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if te.fail.Load() > 0 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
			return
		}
		n := te.n.Add(1)
		fmt.Fprintf(w, `{"access_token":"ya29.FAKE%sQzXvKwJqYzPxWvQk%04d","expires_in":3600,"token_type":"Bearer"}`, "tok", n)
	}))
	t.Cleanup(te.Close)
	return te
}

func (te *tokenEndpoint) lastScope() string {
	te.mu.Lock()
	defer te.mu.Unlock()
	if len(te.scopes) == 0 {
		return ""
	}
	return te.scopes[len(te.scopes)-1]
}

// serviceAccountADC writes a service account key file (a freshly made,
// obviously fake key) whose token_uri is the fake endpoint, and points
// GOOGLE_APPLICATION_CREDENTIALS at it.
func serviceAccountADC(t *testing.T, tokenURI string) string {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "credkit-test", "private_key_id": "fake0000",
		"private_key": keyPEM, "client_email": "vertex-caller@credkit-test.iam.gserviceaccount.com",
		"client_id": "000000000000000000000", "token_uri": tokenURI,
	})
	path := filepath.Join(t.TempDir(), "sa.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	return keyPEM
}

func TestTokenProviderFromADC(t *testing.T) {
	te := newTokenEndpoint(t)
	keyPEM := serviceAccountADC(t, te.URL)
	ctx := context.Background()
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("gcp-token", gcp.NewTokenOpener(gcp.WithTokenClock(clk))))

	p, ref, err := mux.Resolve(ctx, "gcp-token://?scope=https://www.googleapis.com/auth/cloud-platform")
	require.NoError(t, err)
	assert.Equal(t, gcp.CloudPlatformScope, ref)
	v1, err := p.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v1.Secret.Reveal() == "ya29.FAKEtokQzXvKwJqYzPxWvQk0001", "the minted token")
	assert.Equal(t, gcp.CloudPlatformScope, te.lastScope(), "the scope is asked for in the assertion")
	assert.True(t, v1.Expires.Equal(clk.Now().Add(time.Hour)), "Version.Expires is the token's expiry: %v", v1.Expires)
	assert.True(t, v1.Created.Equal(clk.Now()))
	assert.Equal(t, v1.Secret.Fingerprint(), v1.ID, "the ID is the keyed fingerprint, never the token")

	v2, err := p.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.NotEqual(t, v1.ID, v2.ID, "each Fetch mints: rotate does the caching")

	p2, ref2, err := mux.Resolve(ctx, "gcp-token://?scope=https://www.googleapis.com/auth/devstorage.read_only,https://www.googleapis.com/auth/cloud-platform")
	require.NoError(t, err)
	assert.Same(t, p, p2)
	_, err = p2.Fetch(ctx, ref2)
	require.NoError(t, err)
	assert.Equal(t, "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/devstorage.read_only", te.lastScope())
	_, ref3, err := mux.Resolve(ctx, "gcp-token://")
	require.NoError(t, err)
	assert.Equal(t, gcp.CloudPlatformScope, ref3, "cloud-platform by default")

	// The endpoint refuses the key: ErrPermission, naming the OAuth error,
	// never the key or a token.
	te.fail.Store(1)
	_, err = p.Fetch(ctx, ref)
	require.Error(t, err)
	assert.True(t, errors.Is(err, credential.ErrPermission), "got %v", err)
	assert.Contains(t, err.Error(), "invalid_grant")
	// The key is random base64: any 4 of its bytes may occur in English by
	// chance, so look for runs of 12.
	body := strings.Join(strings.Fields(keyPEM), "")
	for i := 0; i+12 <= len(body); i++ {
		require.False(t, strings.Contains(err.Error(), body[i:i+12]), "the error holds a run of the key at %d", i)
	}
	assert.False(t, strings.Contains(err.Error(), "ya29."), "no token in the error")
	te.fail.Store(0)

	// The endpoint is gone.
	te.Close()
	_, err = p.Fetch(ctx, ref)
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)

	// No ADC at all.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing.json"))
	_, err = gcp.NewTokenProvider().Fetch(ctx, "")
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)

	for _, bad := range []string{"gcp-token://vertex", "gcp-token://?scope=a&scope=b", "gcp-token://?audience=x", "gcp-token://#field"} {
		_, _, err := mux.Resolve(ctx, bad)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "%s: got %v", bad, err)
	}
}

// TestTokenRefreshedAheadByRotate: a watched token is refreshed by rotate
// before it expires, and never served expired.
func TestTokenRefreshedAheadByRotate(t *testing.T) {
	te := newTokenEndpoint(t)
	serviceAccountADC(t, te.URL)
	ctx := context.Background()
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	p := gcp.NewTokenProvider(gcp.WithTokenClock(clk))
	w, err := rotate.Watch(ctx, "vertex", p, "", rotate.WithClock(clk), rotate.WithInterval(24*time.Hour, 0))
	require.NoError(t, err)
	defer w.Close()
	rotated := make(chan rotate.Event, 4)
	w.OnRotate(func(e rotate.Event) { rotated <- e })
	first, _ := w.Version()

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.True(t, clk.WaitTimers(wctx, 1))
	// At 80% of its hour, the token is replaced.
	clk.Advance(48 * time.Minute)
	select {
	case e := <-rotated:
		assert.Equal(t, first.ID, e.OldVersion)
	case <-time.After(10 * time.Second):
		t.Fatal("the token was not refreshed ahead of its expiry")
	}
	s, err := w.Get(ctx)
	require.NoError(t, err)
	assert.True(t, s.Reveal() == "ya29.FAKEtokQzXvKwJqYzPxWvQk0002")
	v, _ := w.Version()
	assert.True(t, v.Expires.Equal(clk.Now().Add(time.Hour)))
}

// mintingSource stands in for Application Default Credentials in the
// example: it mints a new token at each call.
type mintingSource struct{ n int }

func (m *mintingSource) Token() (*oauth2.Token, error) {
	m.n++
	return &oauth2.Token{AccessToken: fmt.Sprintf("ya29.FAKE%04d", m.n), ExpiresIn: 3600, TokenType: "Bearer"}, nil
}

// A Vertex AI client authenticates with a Google access token that rotate
// keeps fresh; in production the TokenOpener finds Application Default
// Credentials (a service account on GKE or Cloud Run, gcloud's login on a
// laptop).
func ExampleNewTokenOpener() {
	ctx := context.Background()
	mux := provider.NewURLMux()
	mux.Register("gcp-token", gcp.NewTokenOpener(gcp.WithTokenSource(&mintingSource{})))
	set, err := rotate.Open(ctx, mux, []rotate.Config{{Name: "vertex", URL: "gcp-token://?scope=https://www.googleapis.com/auth/cloud-platform"}})
	if err != nil {
		panic(err)
	}
	defer set.Close()
	vertex, err := set.Credential("vertex")
	if err != nil {
		panic(err)
	}
	v, _ := vertex.Version()
	fmt.Println(v.Secret, v.Expires.Sub(v.Created))
	// An *http.Client for the Vertex AI SDK (option.WithHTTPClient) sends
	// it as "Authorization: Bearer …".
	client := &http.Client{Transport: &credential.Transport{Credential: vertex}}
	_ = client
	// Output: [REDACTED] 1h0m0s
}
