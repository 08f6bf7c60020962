package degrade_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

var exampleLog = slog.New(slog.DiscardHandler)

// flakyEmbedder stands for an embedding API: it works, then goes down.
type flakyEmbedder struct{ down atomic.Bool }

func (f *flakyEmbedder) Embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	if f.down.Load() {
		return nil, &degrade.StatusError{StatusCode: 503}
	}
	out := make([][]float32, len(inputs))
	for i := range inputs {
		out[i] = []float32{0.1, 0.2, 0.3}
	}
	return out, nil
}

// The embedding service goes down: the vectors it returned before are
// served from the cache, marked so the caller knows.
func ExampleEmbeddings() {
	api := &flakyEmbedder{}
	policy := degrade.NewPolicy("embeddings", degrade.WithMaxAttempts(1), degrade.WithLogger(exampleLog))
	emb := degrade.NewEmbeddings(api, policy, degrade.WithCache(10000, time.Nanosecond), degrade.WithLogger(exampleLog))
	ctx := context.Background()

	r, _ := emb.Embed(ctx, "text-embedding-3-small", []string{"reset my password"})
	fmt.Println(r.Marker, len(r.Value[0]))

	api.down.Store(true)
	r, err := emb.Embed(ctx, "text-embedding-3-small", []string{"reset my password"})
	fmt.Println(r.Marker, len(r.Value[0]), err)

	_, err = emb.Embed(ctx, "text-embedding-3-large", []string{"reset my password"})
	fmt.Println(errors.Is(err, degrade.ErrRetriesExhausted))
	// Output:
	// fresh 3
	// stale 3 <nil>
	// true
}

// A batch job submits its work; while the model is down the items wait in
// the queue, and they run once it is back.
func ExampleQueue() {
	var up atomic.Bool
	summarise := func(ctx context.Context, ticket string) (string, error) {
		if !up.Load() {
			return "", &degrade.StatusError{StatusCode: 503}
		}
		return "summary of " + ticket, nil
	}
	policy := degrade.NewPolicy("llm", degrade.WithMaxAttempts(1), degrade.WithBackoff(time.Millisecond, time.Millisecond),
		degrade.WithLogger(exampleLog))
	q := degrade.NewQueue(policy, summarise, nil, degrade.WithCapacity(10000), degrade.WithLogger(exampleLog))
	defer q.Close()

	ctx := context.Background()
	var hs []*degrade.Handle[string]
	for _, t := range []string{"T-1", "T-2", "T-3"} {
		h, err := q.Submit(ctx, t)
		if err != nil {
			fmt.Println(err)
			return
		}
		hs = append(hs, h)
	}
	time.Sleep(5 * time.Millisecond) // the model is down for a while
	up.Store(true)
	for _, h := range hs {
		s, err := h.Wait(ctx)
		fmt.Println(s, err)
	}
	// Output:
	// summary of T-1 <nil>
	// summary of T-2 <nil>
	// summary of T-3 <nil>
}

// The breaker opens after enough failures and fails fast; its state is a
// health check.
func ExampleBreaker() {
	policy := degrade.NewPolicy("vectors", degrade.WithMaxAttempts(1), degrade.WithBreaker(0.5, 3, time.Minute),
		degrade.WithOpenFor(30*time.Second, 1), degrade.WithLogger(exampleLog))
	ctx := context.Background()
	down := func(context.Context) error { return &degrade.StatusError{StatusCode: 503} }
	for i := 0; i < 3; i++ {
		_ = policy.Do(ctx, down)
	}
	fmt.Println(policy.Breaker().State())
	err := policy.Do(ctx, func(context.Context) error { return nil })
	fmt.Println(errors.Is(err, degrade.ErrCircuitOpen), errors.Is(err, credential.ErrUnavailable))
	fmt.Println(policy.Check(ctx) != nil)
	// Output:
	// open
	// true true
	// true
}

// Two keys share the traffic; a revoked one is quarantined across requests
// and reported, without its value ever being printed.
func ExamplePool() {
	const revoked = "sk-proj-FAKE0000000000000000000000000000"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+revoked {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	pool, _ := degrade.NewPool("openai", []credential.Credential{
		credential.NewStatic("openai-a", credential.NewSecret(revoked), credential.Metadata{}),
		credential.NewStatic("openai-b", credential.NewSecret("sk-proj-FAKE1111111111111111111111111111"), credential.Metadata{}),
	}, degrade.WithLogger(exampleLog))
	policy := degrade.NewPolicy("openai", degrade.WithLogger(exampleLog))
	client := &http.Client{Transport: degrade.NewRoundTripper(nil, policy, degrade.WithPool(pool, credential.Bearer()))}

	for i := 0; i < 3; i++ {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	for _, k := range pool.Keys() {
		fmt.Println(k.Name, k.Status, k.Uses)
	}
	// Output:
	// 200
	// 200
	// 200
	// openai-a quarantined 1
	// openai-b ready 3
}

// The RoundTripper retries a rate-limited request after the server's
// Retry-After, replaying its body. It goes outside the credential
// transport, and the SDK's own retries are turned off
// (option.WithMaxRetries(0) in openai-go and anthropic-sdk-go).
func ExampleRoundTripper() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After-Ms", "10")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprintf(w, "got %s", b)
	}))
	defer srv.Close()

	key := credential.NewStatic("openai", credential.NewSecret("sk-proj-FAKE0000000000000000000000000000"), credential.Metadata{})
	policy := degrade.NewPolicy("openai", degrade.WithLogger(exampleLog))
	client := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, policy)}

	resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"model":"gpt-4o-mini"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b), calls.Load())
	// Output:
	// 200 got {"model":"gpt-4o-mini"} 2
}

// An ordered fallback chain: when the primary provider is down the next one
// answers, and the answer says so.
func ExampleChat() {
	chat, _ := degrade.NewChat([]degrade.Link{
		{Name: "openai", Model: downModel{}, Policy: degrade.NewPolicy("openai", degrade.WithMaxAttempts(1), degrade.WithLogger(exampleLog))},
		{Name: "anthropic", Model: echoModel{}},
	}, degrade.WithLogger(exampleLog))
	r, err := chat.Chat(context.Background(), degrade.ChatRequest{Model: "gpt-4o-mini",
		Messages: []degrade.Message{{Role: "user", Content: "hello"}}})
	fmt.Println(r.Marker, r.Source, r.Value.Content, err)
	// Output:
	// fallback anthropic echo: hello <nil>
}

type downModel struct{}

func (downModel) Chat(context.Context, degrade.ChatRequest) (degrade.ChatResponse, error) {
	return degrade.ChatResponse{}, &degrade.StatusError{StatusCode: 529}
}

type echoModel struct{}

func (echoModel) Chat(_ context.Context, r degrade.ChatRequest) (degrade.ChatResponse, error) {
	return degrade.ChatResponse{Content: "echo: " + r.Messages[len(r.Messages)-1].Content}, nil
}

// flakySearcher stands for a vector database that goes down.
type flakySearcher struct{ down atomic.Bool }

func (f *flakySearcher) Search(ctx context.Context, req degrade.SearchRequest) ([]degrade.Match, error) {
	if f.down.Load() {
		return nil, &degrade.StatusError{StatusCode: 503}
	}
	return []degrade.Match{{ID: "kb-42", Score: 0.91}}, nil
}

// The vector database fails: the last good result of the same query is
// served, marked stale, instead of an empty answer.
func ExampleSearch() {
	db := &flakySearcher{}
	search := degrade.NewSearch(db, degrade.NewPolicy("qdrant", degrade.WithMaxAttempts(1), degrade.WithLogger(exampleLog)),
		degrade.WithLogger(exampleLog))
	q := degrade.SearchRequest{Collection: "kb", Text: "rotate a key", K: 1}
	ctx := context.Background()

	r, _ := search.Search(ctx, q)
	fmt.Println(r.Marker, r.Value[0].ID)
	db.down.Store(true)
	r, _ = search.Search(ctx, q)
	fmt.Println(r.Marker, r.Value[0].ID)
	_, err := search.Search(ctx, degrade.SearchRequest{Collection: "kb", Text: "never asked", K: 1})
	fmt.Println(err != nil)
	// Output:
	// fresh kb-42
	// stale kb-42
	// true
}

// A pool's keys and a policy's breaker become health checks: a revoked key
// of several shows on the health endpoint, as its own traffic revealed.
func ExamplePool_Checks() {
	pool, _ := degrade.NewPool("openai", []credential.Credential{
		credential.NewStatic("openai-a", credential.NewSecret("sk-proj-FAKE0000000000000000000000000000"), credential.Metadata{}),
		credential.NewStatic("openai-b", credential.NewSecret("sk-proj-FAKE1111111111111111111111111111"), credential.Metadata{}),
	}, degrade.WithLogger(exampleLog))
	policy := degrade.NewPolicy("openai", degrade.WithLogger(exampleLog))
	checks := append(policy.Checks(true), pool.Checks(true)...)
	for _, c := range checks {
		r := c.Run(context.Background())
		fmt.Println(c.Name, c.Critical, r.Status)
	}
	// Output:
	// openai:circuit true pass
	// openai:traffic true pass
	// openai:keys true pass
	// openai-a:credential false pass
	// openai-b:credential false pass
}
