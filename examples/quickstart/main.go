// Command quickstart is credkit's tour in one offline program, a line or
// two per capability: it opens credentials from URLs (a secret file and an
// environment variable) into a rotate.Set, shows that they never print,
// calls an HTTP API through credential.Transport, which injects the key
// into every request, rotates the key file while the API takes only the new
// key — the API answers the old key 401, the transport refreshes and
// retries, and the caller sees a 200 — redacts keys logged by mistake,
// prints the inventory a security reviewer reads and the readiness on-call
// reads (before and after a revocation), and serves an embedding outage
// from the cache and a request queued while the model is down.
//
//	go run ./examples/quickstart
//
// Everything runs on this machine: the "model API" is a local server that
// answers only requests bearing the right key. Copy the parts you need into
// a new AI integration.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
	"github.com/credkit/credkit/health/degrade/queue"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

// Obviously fake keys in the real formats.
const (
	openAIKey  = "sk-proj-FAKEqsXvKwJqYzPxWvQkZjXyVqWzKxJvGq"
	openAIKey2 = "sk-proj-FAKEqsRwPzYkXvJqWzKyQxVzJwPkZyXqRv"
	// healthToken lets on-call see /readyz detail and the inventory; in a
	// service it comes from a secret of its own.
	healthToken  = "FAKE-health-token-quickstart-0000"
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

	// 2. Open them from URLs, as a config file would list them. The Set
	//    keeps each one current: polling, push (fsnotify for files),
	//    backoff, last good value during outages. Push is off here so that
	//    the tour can show the case push narrows but cannot close: a request
	//    that goes out with the old key after the provider stopped taking
	//    it (between two polls, or before a slow mount syncs).
	set, err := rotate.Open(ctx, provider.NewURLMux(), []rotate.Config{
		{Name: "openai", URL: "file://" + keyFile, Metadata: credential.Metadata{
			Owner: "ml-team@example.com", Purpose: "support-bot chat completions", Environment: "production",
			System: "api.openai.com", Scopes: []string{"model.request"}, RotationPeriod: 90 * 24 * time.Hour}},
		{Name: "anthropic", URL: "env://QUICKSTART_ANTHROPIC_API_KEY", Metadata: credential.Metadata{
			Owner: "ml-team@example.com", Environment: "production", System: "api.anthropic.com"}},
	}, rotate.WithEnvironment("production"), rotate.WithoutPush())
	if err != nil {
		return err
	}
	defer set.Close()
	fmt.Fprintln(out, "== credentials from file:// and env:// URLs: a Secret never prints")
	for _, name := range set.Names() {
		s, err := set.Get(ctx, name)
		if err != nil {
			return err
		}
		// Printing a Secret shows [REDACTED]; the fingerprint tells versions
		// apart without showing them.
		fmt.Fprintf(out, "%-10s %v fingerprint %s\n", name, s, s.Fingerprint())
	}

	// 3. A model API that accepts only the current key, as a provider does
	//    once the old key is revoked.
	var current atomic.Value
	current.Store(openAIKey)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+current.Load().(string) {
			http.Error(w, `{"error":"invalid_api_key"}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"object":"list","data":[{"id":"gpt-fake"}]}`)
	}))
	defer api.Close()

	// 4. Hand the SDK a client, not a key. On a 401 the transport asks the
	//    credential to refresh and retries once if the key changed. Observe
	//    shows each attempt as the API saw it (fingerprints, never values).
	openai, err := set.Credential("openai") // a typo here is ErrNotFound, now
	if err != nil {
		return err
	}
	var attempts []string
	client := &http.Client{Transport: &credential.Transport{Credential: openai, Observe: func(u credential.Use) {
		attempts = append(attempts, fmt.Sprintf("%d (key %s)", u.StatusCode, u.Fingerprint[:8]))
	}}}
	fmt.Fprintln(out, "== the model API through credential.Transport")
	if err := call(ctx, out, client, api.URL, &attempts); err != nil {
		return err
	}

	// 5. An operator rotates the key: the provider takes only the new one
	//    and the secret file is replaced atomically, as kubelet does. The
	//    Set has not noticed yet, so the next request carries the old key:
	//    the API answers 401, the transport refreshes (the Set reads the
	//    file), retries with the new key, and the caller sees a 200.
	rotated := make(chan rotate.Event, 1)
	unsub := openai.OnRotate(func(e rotate.Event) { rotated <- e })
	defer unsub()
	current.Store(openAIKey2)
	if err := replaceFile(keyFile, openAIKey2+"\n"); err != nil {
		return err
	}
	fmt.Fprintln(out, "== the key file is rotated; the API now takes only the new key")
	if err := call(ctx, out, client, api.URL, &attempts); err != nil {
		return err
	}
	select {
	case e := <-rotated:
		fmt.Fprintf(out, "event: %s %s %s -> %s\n", e.Kind, e.Name, e.OldFingerprint[:8], e.NewFingerprint[:8])
	case <-time.After(5 * time.Second):
		return fmt.Errorf("no rotation event")
	}

	// 6. Logs never show a key, even one logged by mistake: the redacting
	//    handler knows every value the Set holds (the old key too, during
	//    its overlap window) and the formats of well-known tokens.
	r := redact.New(redact.WithReasons())
	stop := r.Track(set)
	defer stop()
	logger := slog.New(redact.NewHandler(slog.NewTextHandler(out, &slog.HandlerOptions{ReplaceAttr: dropTime}), r))
	cur, _ := openai.Get(ctx)
	old, _ := openai.Previous()
	fmt.Fprintln(out, "== logs through redact.NewHandler, keys logged by mistake")
	logger.Info("calling the model with key " + cur.Reveal())                                      // a key in the message
	logger.Warn("retrying", "header", "Authorization: Bearer "+old.Secret.Reveal())                // the old key in an attribute
	logger.Error("upstream failed", "err", errors.New("GET /v1beta?key="+unknownGoogleKey+" 403")) // a key credkit never held, in an error
	logger.Info("config loaded", "db_password", "FAKE-hunter2-hunter2")                            // a sensitive key

	// 7. What a security reviewer reads: no values, only who, what, when.
	fmt.Fprintln(out, "== inventory")
	for _, it := range set.Inventory().Credentials {
		fmt.Fprintf(out, "%-10s backend=%-4s owner=%s rotations=%d due=%s findings=%v\n",
			it.Name, it.Backend, it.Metadata.Owner, it.Status.Rotations, dueIn(it.RotationDue), it.Findings)
	}

	// 8. Health: checks run in the background; the service mounts the
	//    handler on its own mux. Then the OpenAI key is revoked (the kill
	//    switch of an incident) and readiness fails.
	checks := append(health.SetChecks(set, health.CredentialOptions{}),
		health.HTTPCheck("openai-api", api.URL+"/v1/models", &http.Client{Transport: &credential.Transport{Credential: openai}}, false))
	monitor := health.NewMonitor(checks, health.WithSanitizer(r.String))
	defer monitor.Close()
	mux := http.NewServeMux()
	h := health.NewHandler(monitor, health.WithToken(healthToken), health.WithInventory(func() any { return set.Inventory() }))
	mux.Handle("/livez", h)
	mux.Handle("/readyz", h)
	mux.Handle("/readyz/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if err := waitFor(func() bool { return monitor.Ready() }); err != nil {
		return err
	}
	fmt.Fprintln(out, "== health: GET /readyz?verbose (with the on-call token)")
	if err := show(out, srv.URL+"/readyz?verbose"); err != nil {
		return err
	}
	if err := set.Revoke("openai", "key posted in a support ticket"); err != nil {
		return err
	}
	monitor.RunNow("openai:credential")
	monitor.RunNow("openai-api:responseTime")
	if err := waitFor(func() bool {
		c, _ := monitor.Result("openai:credential")
		a, _ := monitor.Result("openai-api:responseTime")
		return c.Status == health.Fail && a.Status == health.Fail
	}); err != nil {
		return err
	}
	fmt.Fprintln(out, "after set.Revoke(\"openai\", \"key posted in a support ticket\"):")
	if err := show(out, srv.URL+"/readyz?verbose"); err != nil {
		return err
	}
	anthropic, err := set.Credential("anthropic")
	if err != nil {
		return err
	}
	return degraded(ctx, out, anthropic)
}

// degraded shows health/degrade: an embedding outage served from the cache,
// and a request queued while the model is down that completes after it
// recovers.
func degraded(ctx context.Context, out io.Writer, key credential.Credential) error {
	var down atomic.Bool
	refused := make(chan struct{}, 1) // a request met the outage
	models := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			select {
			case refused <- struct{}{}:
			default:
			}
			http.Error(w, `{"error":{"type":"overloaded_error"}}`, 529)
			return
		}
		switch r.URL.Path {
		case "/v1/embeddings":
			io.WriteString(w, `{"data":[{"embedding":[0.12,-0.03,0.98]}]}`)
		default:
			io.WriteString(w, `{"content":"Your ticket was about a password reset."}`)
		}
	}))
	defer models.Close()
	client := &http.Client{Transport: &credential.Transport{Credential: key, Inject: credential.Header("x-api-key")}}

	fmt.Fprintln(out, "== health/degrade: an embedding outage served from the cache, a request queued")
	emb := fallback.NewEmbeddings(degrade.NewPolicy("embeddings", degrade.WithMaxAttempts(1)),
		embedder{client, models.URL}.Embed, fallback.WithSize(10000), fallback.WithTTL(time.Nanosecond))
	var marks []string
	for _, phase := range []string{"up", "down"} {
		down.Store(phase == "down")
		r, err := emb.Embed(ctx, "embed-fake-1", []string{"reset my password"})
		if err != nil {
			return err
		}
		marks = append(marks, fmt.Sprintf("%s -> %s", phase, r.Marker))
	}
	if err := wait(refused); err != nil { // the embedding API was asked while down
		return err
	}
	fmt.Fprintf(out, "embedding API %s (the last good vector)\n", strings.Join(marks, ", "))

	policy := degrade.NewPolicy("llm", degrade.WithMaxAttempts(1), degrade.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	q, err := queue.New(policy, func(ctx context.Context, it queue.Item[string]) (string, error) {
		return complete(ctx, client, models.URL, it.Value) // it.ID is an idempotency key
	}, nil)
	if err != nil {
		return err
	}
	defer q.Close()
	h, err := q.Submit(ctx, "ticket T-1042")
	if err != nil {
		return err
	}
	if err := wait(refused); err != nil { // the queue's first attempt met the outage
		return err
	}
	down.Store(false)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	summary, err := h.Wait(wctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "model down (529) -> request queued -> model back -> completed: %s\n", summary)
	return nil
}

// wait waits for an event of the fake model API, for at most 5 s.
func wait(ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("the model API was never called during its outage")
	}
}

// embedder calls the local embedding API.
type embedder struct {
	c    *http.Client
	base string
}

func (e embedder) Embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	body, err := post(ctx, e.c, e.base+"/v1/embeddings")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data []struct{ Embedding []float32 } `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	out := make([][]float32, len(resp.Data))
	for i, d := range resp.Data {
		out[i] = d.Embedding
	}
	return out, nil
}

func complete(ctx context.Context, c *http.Client, base, ticket string) (string, error) {
	body, err := post(ctx, c, base+"/v1/messages")
	if err != nil {
		return "", err
	}
	var resp struct{ Content string }
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", err
	}
	return resp.Content, nil
}

// post makes a request and turns a non-2xx answer into a
// *degrade.StatusError, which the policies classify.
func post(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, &degrade.StatusError{StatusCode: resp.StatusCode}
	}
	return body, nil
}

// show prints one health response in a line, as on-call reads it with the
// token: the overall status, then each check that does not pass.
func show(out io.Writer, url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+healthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Checks map[string][]struct{ Status, Output string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	var names []string
	for k := range body.Checks {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		for _, c := range body.Checks[k] {
			p := k + " " + c.Status
			if c.Status != "pass" {
				p += " (" + c.Output + ")"
			}
			parts = append(parts, p)
		}
	}
	fmt.Fprintf(out, "%d %s: %s\n", resp.StatusCode, body.Status, strings.Join(parts, ", "))
	return nil
}

func waitFor(cond func() bool) error {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for health checks")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// call makes one request, fails unless it succeeds, and prints what the
// caller saw and, when it differs, what the API saw.
func call(ctx context.Context, out io.Writer, client *http.Client, base string, attempts *[]string) error {
	*attempts = (*attempts)[:0]
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/models", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch a := *attempts; {
	case len(a) > 1: // the 401 → refresh → retry, invisible to the caller
		fmt.Fprintf(out, "GET /v1/models -> %d for the caller; the API saw %s, then %s after the transport's refresh\n",
			resp.StatusCode, a[0], strings.Join(a[1:], ", "))
	case len(a) == 1:
		fmt.Fprintf(out, "GET /v1/models -> %s\n", a[0])
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the API refused the key: %d", resp.StatusCode)
	}
	return nil
}

func replaceFile(path, content string) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// unknownGoogleKey is a key credkit was never told about: the Google API key
// detector catches it by its format.
const unknownGoogleKey = "AIzaFAKEquickstartQzXvKwJqYzPxWvQkZjXyV"

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func dueIn(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return fmt.Sprintf("in %dd", int(time.Until(t).Hours()+1)/24)
}
