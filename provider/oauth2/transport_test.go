package oauth2_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider/oauth2"
	"github.com/credkit/credkit/rotate"
)

// A token the API rejects (401) is refreshed once: the Transport asks the
// watched credential to refresh, which mints a new token, and retries with
// it. A second 401 is returned as it came: one refresh, never a loop.
func TestTransport401RefreshesOnce(t *testing.T) {
	fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc"})
	defer fake.Close()
	p, _ := oauth2.ClientCredentials(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "svc"})
	ctx := context.Background()
	c, err := rotate.Watch(ctx, "tok", p, "", rotate.WithMinRefreshInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var mu sync.Mutex
	revoked := map[string]bool{}
	var seen []string
	rejectAll := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, tok)
		if !ok || rejectAll || revoked[tok] || !fake.Valid(tok, time.Now()) {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	first, _ := c.Get(ctx)
	mu.Lock()
	revoked[first.Reveal()] = true
	mu.Unlock()

	client := &http.Client{Transport: &credential.Transport{Credential: c}}
	resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(seen) != 2 || seen[0] == seen[1] {
		t.Fatalf("status %d after %d attempts", resp.StatusCode, len(seen))
	}
	if fake.Requests() != 2 {
		t.Fatalf("%d token requests, want 2 (the first token and one refresh)", fake.Requests())
	}

	// Every token rejected: one refresh, one retry, then the 401.
	mu.Lock()
	seen, rejectAll = nil, true
	mu.Unlock()
	resp, err = client.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(seen) != 2 || fake.Requests() != 3 {
		t.Fatalf("status %d, %d attempts, %d token requests", resp.StatusCode, len(seen), fake.Requests())
	}
}

// Each credential is injected as its API expects.
func TestInjectors(t *testing.T) {
	s := credential.NewSecret("fake-access-token-0001-FAKEFAKEFAKE")
	for name, tc := range map[string]struct {
		inject credential.Injector
		header string
		want   string
	}{
		"OpenAI, Bedrock, Azure OpenAI with Entra ID": {credential.Bearer(), "Authorization", "Bearer " + s.Reveal()},
		"Anthropic OAuth":  {oauth2.AnthropicInjector(), "Anthropic-Beta", oauth2.AnthropicOAuthBeta},
		"Azure OpenAI key": {credential.Header("api-key"), "Api-Key", s.Reveal()},
		"Anthropic key":    {credential.Header("x-api-key"), "X-Api-Key", s.Reveal()},
	} {
		r, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
		r.Header.Set("X-Api-Key", "left-over")
		tc.inject(r, s)
		if got := r.Header.Get(tc.header); got != tc.want {
			t.Errorf("%s: %s = %q", name, tc.header, got)
		}
	}
	r, _ := http.NewRequest(http.MethodGet, "https://api.anthropic.com/", nil)
	r.Header.Set("X-Api-Key", "left-over")
	oauth2.AnthropicInjector()(r, s)
	if r.Header.Get("Authorization") != "Bearer "+s.Reveal() || r.Header.Get("X-Api-Key") != "" {
		t.Errorf("Anthropic OAuth: %v", r.Header)
	}
}
