package bench

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

const (
	oldOpenAIKey = "sk-proj-FAKE0000000000000000000000000000"
	newOpenAIKey = "sk-proj-FAKE1111111111111111111111111111"
)

const chatCompletion = `{"id":"chatcmpl-FAKE","object":"chat.completion","created":1764000000,"model":"gpt-4o-mini",
"choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`

// openAIFault accepts only the current key, answers the first burst
// requests that carry it with 429 (retry-after-ms), then succeeds.
type openAIFault struct {
	valid    string
	burst    int32
	served   atomic.Int32
	mu       sync.Mutex
	statuses []int
}

func (f *openAIFault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	status := 200
	switch {
	case r.URL.Path != "/chat/completions":
		status = 404
	case r.Header.Get("Authorization") != "Bearer "+f.valid:
		status = 401
	case f.served.Add(1) <= f.burst:
		status = 429
	}
	f.mu.Lock()
	f.statuses = append(f.statuses, status)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch status {
	case 401:
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
	case 429:
		w.Header().Set("Retry-After-Ms", "5")
		w.WriteHeader(429)
		io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
	case 404:
		w.WriteHeader(404)
	default:
		io.WriteString(w, chatCompletion)
	}
}

func (f *openAIFault) seen() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.statuses...)
}

// rotatedKey is a credential the operator rotated: it holds the old value
// until Refresh fetches the new one (like rotate's watched credential).
type rotatedKey struct {
	*credential.Static
	refreshed atomic.Bool
}

func (k *rotatedKey) Refresh(context.Context) (bool, error) {
	if k.refreshed.Swap(true) {
		return false, nil
	}
	k.Set(credential.NewSecret(newOpenAIKey))
	return true, nil
}

func chat(t *testing.T, hc *http.Client, url string) {
	t.Helper()
	client := openai.NewClient(
		option.WithBaseURL(url),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0), // one retry loop: degrade's
		option.WithAPIKey("replaced-by-the-transport"),
	)
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    openai.ChatModelGPT4oMini,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("ping")},
	})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "pong" {
		t.Fatalf("unexpected completion %+v", resp.Choices)
	}
}

// TestOpenAIAcrossRotationAnd429s drives the real openai-go client through
// degrade's RoundTripper against a fault server: the key was rotated under
// the service (the old one gets 401) and the provider then answers a burst
// of 429s. The call succeeds, with exactly the attempts expected.
func TestOpenAIAcrossRotationAnd429s(t *testing.T) {
	t.Run("credential transport inside", func(t *testing.T) {
		fault := &openAIFault{valid: newOpenAIKey, burst: 3}
		srv := httptest.NewServer(fault)
		defer srv.Close()
		key := &rotatedKey{Static: credential.NewStatic("openai", credential.NewSecret(oldOpenAIKey), credential.Metadata{})}
		policy := degrade.NewPolicy("openai", degrade.WithMaxAttempts(5), degrade.WithBackoff(0, 0))
		hc := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, policy)}
		chat(t, hc, srv.URL)
		got := fault.seen()
		want := []int{401, 429, 429, 429, 200}
		if !equalInts(got, want) {
			t.Fatalf("statuses %v, want %v", got, want)
		}
		if err := policy.Check(context.Background()); err != nil {
			t.Fatalf("health: %v", err)
		}
	})
	t.Run("key pool", func(t *testing.T) {
		fault := &openAIFault{valid: newOpenAIKey, burst: 2}
		srv := httptest.NewServer(fault)
		defer srv.Close()
		revoked := credential.NewStatic("openai-1", credential.NewSecret(oldOpenAIKey), credential.Metadata{})
		current := credential.NewStatic("openai-2", credential.NewSecret(newOpenAIKey), credential.Metadata{})
		pool, err := degrade.NewPool("openai", []credential.Credential{revoked, current})
		if err != nil {
			t.Fatal(err)
		}
		policy := degrade.NewPolicy("openai", degrade.WithMaxAttempts(5), degrade.WithBackoff(0, 0))
		hc := &http.Client{Transport: degrade.NewRoundTripper(nil, policy, degrade.WithPool(pool, credential.Bearer()))}
		chat(t, hc, srv.URL)
		chat(t, hc, srv.URL)
		ks := pool.Keys()
		if ks[0].Status != degrade.KeyQuarantined || ks[1].Status != degrade.KeyReady {
			t.Fatalf("key states %v %v", ks[0].Status, ks[1].Status)
		}
		got := fault.seen()
		n := 0
		for _, s := range got {
			if s == 401 {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the revoked key was tried %d times across requests, want 1 (%v)", n, got)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// openAIModel is a degrade.ChatModel over the real openai-go client. It
// turns the SDK's *openai.Error into a *degrade.StatusError so that the
// policies classify it like the response it came from.
type openAIModel struct{ client openai.Client }

func (m openAIModel) Chat(ctx context.Context, req degrade.ChatRequest) (degrade.ChatResponse, error) {
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Messages))
	for _, msg := range req.Messages {
		switch msg.Role {
		case "system":
			msgs = append(msgs, openai.SystemMessage(msg.Content))
		case "assistant":
			msgs = append(msgs, openai.AssistantMessage(msg.Content))
		default:
			msgs = append(msgs, openai.UserMessage(msg.Content))
		}
	}
	resp, err := m.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: req.Model, Messages: msgs})
	if err != nil {
		var apiErr *openai.Error
		if errors.As(err, &apiErr) {
			se := &degrade.StatusError{StatusCode: apiErr.StatusCode}
			if apiErr.Response != nil {
				se.Header = apiErr.Response.Header
			}
			return degrade.ChatResponse{}, errors.Join(err, se)
		}
		return degrade.ChatResponse{}, err
	}
	if len(resp.Choices) == 0 {
		return degrade.ChatResponse{}, errors.New("no choices")
	}
	return degrade.ChatResponse{Model: resp.Model, Content: resp.Choices[0].Message.Content}, nil
}

// TestOpenAIChatFallback: the primary provider is down for good; the Chat
// wrapper, over two real openai-go clients, answers from the fallback and
// marks the answer.
func TestOpenAIChatFallback(t *testing.T) {
	var downCalls atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downCalls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	up := httptest.NewServer(&openAIFault{valid: newOpenAIKey})
	defer up.Close()
	key := credential.NewStatic("openai", credential.NewSecret(newOpenAIKey), credential.Metadata{})
	hc := &http.Client{Transport: &credential.Transport{Credential: key}}
	mk := func(url string) openAIModel {
		return openAIModel{openai.NewClient(option.WithBaseURL(url), option.WithHTTPClient(hc), option.WithMaxRetries(0), option.WithAPIKey("replaced"))}
	}
	chat, err := degrade.NewChat([]degrade.Link{
		{Name: "primary", Model: mk(down.URL), Policy: degrade.NewPolicy("primary", degrade.WithMaxAttempts(2), degrade.WithBackoff(time.Millisecond, time.Millisecond))},
		{Name: "secondary", Model: mk(up.URL)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := chat.Chat(context.Background(), degrade.ChatRequest{Model: "gpt-4o-mini", Messages: []degrade.Message{{Role: "user", Content: "ping"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Marker != degrade.Fallback || r.Source != "secondary" || r.Value.Content != "pong" {
		t.Fatalf("got %v from %s: %q", r.Marker, r.Source, r.Value.Content)
	}
	if n := downCalls.Load(); n != 2 {
		t.Fatalf("primary called %d times, want 2: the SDK's 503 must classify as retryable", n)
	}
}
