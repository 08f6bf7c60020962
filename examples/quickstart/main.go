// Command quickstart is credkit's tour in one offline program: it opens
// credentials from URLs (a secret file and an environment variable), shows
// that they never print, and calls an HTTP API through credential.Transport,
// which injects the key into every request.
//
//	go run ./examples/quickstart
//
// Everything runs on this machine: the "model API" is a local server that
// answers only requests bearing the right key. Copy the parts you need into
// a new AI integration.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

// Obviously fake keys in the real formats.
const (
	openAIKey    = "sk-proj-FAKEqsXvKwJqYzPxWvQkZjXyVqWzKxJvGq"
	anthropicKey = "sk-ant-api03-FAKEqsZyKxWqJvPzYxQwVkJzXq-WvJzQxAA"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// 1. Where the keys live: a secret file (as a Kubernetes or Docker secret
	//    would be mounted) and an environment variable.
	dir, err := os.MkdirTemp("", "credkit-quickstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "openai")
	if err := os.WriteFile(keyFile, []byte(openAIKey+"\n"), 0o600); err != nil {
		return err
	}
	os.Setenv("QUICKSTART_ANTHROPIC_API_KEY", anthropicKey)
	defer os.Unsetenv("QUICKSTART_ANTHROPIC_API_KEY")

	// 2. Open them from URLs, as a config file would list them.
	mux := provider.NewURLMux()
	openai, err := open(ctx, mux, "openai", "file://"+keyFile)
	if err != nil {
		return err
	}
	anthropic, err := open(ctx, mux, "anthropic", "env://QUICKSTART_ANTHROPIC_API_KEY")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "== credentials")
	for _, c := range []*credential.Static{openai, anthropic} {
		s, _ := c.Get(ctx)
		// Printing a Secret shows [REDACTED]; the fingerprint tells versions
		// apart without showing them.
		fmt.Fprintf(out, "%-10s value=%v fingerprint=%s\n", c.Name(), s, s.Fingerprint())
	}

	// 3. Call a model API through Transport: the SDK (or plain net/http)
	//    never sees a raw key.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth != "Bearer "+openAIKey {
			http.Error(w, `{"error":"invalid_api_key"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"object":"list","data":[{"id":"gpt-fake"}],"auth_header_bytes":%d}`, len(auth))
	}))
	defer api.Close()
	client := &http.Client{Transport: &credential.Transport{Credential: openai}}
	fmt.Fprintln(out, "== calling the model API through credential.Transport")
	resp, err := client.Get(api.URL + "/v1/models")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintf(out, "GET /v1/models -> %d %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the API refused the key: %d", resp.StatusCode)
	}
	return nil
}

// open resolves a credential URL and loads it once.
func open(ctx context.Context, mux *provider.URLMux, name, rawURL string) (*credential.Static, error) {
	p, ref, err := mux.Resolve(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		return nil, err
	}
	return credential.NewStatic(name, v.Secret, credential.Metadata{Owner: "quickstart"}), nil
}
