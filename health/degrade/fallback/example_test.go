package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
)

// params stands for the SDK's own request type (openai.ChatCompletionNewParams,
// anthropic.MessageNewParams): the chain passes it through whole.
type params struct {
	Model       string
	System      string
	Prompt      string
	Temperature float64
}

// An ordered fallback chain: when the primary provider is overloaded the
// next one answers, and the answer says so.
func ExampleChain() {
	primary := func(ctx context.Context, p params) (string, error) {
		return "", &degrade.StatusError{StatusCode: 529}
	}
	secondary := func(ctx context.Context, p params) (string, error) {
		p.Model = "claude-haiku-4-5" // the link adapts the request to its provider
		return p.Model + " (" + p.System + "): " + p.Prompt, nil
	}
	chain, _ := fallback.NewChain([]fallback.Link[params, string]{
		{Name: "openai", Call: primary, Policy: degrade.NewPolicy("openai", degrade.WithMaxAttempts(1))},
		{Name: "anthropic", Call: secondary},
	})
	r, err := chain.Do(context.Background(), params{Model: "gpt-4o-mini", System: "terse", Prompt: "hello"})
	fmt.Println(r.Marker, r.Source, r.Value, err)
	// Output:
	// fallback anthropic claude-haiku-4-5 (terse): hello <nil>
}

type search struct {
	Collection, Text string
	K                int
}

// The vector database fails: the last good result of the same query is
// served, marked stale, instead of an empty answer.
func ExampleCache() {
	var down atomic.Bool
	query := func(ctx context.Context, q search) ([]string, error) {
		if down.Load() {
			return nil, &degrade.StatusError{StatusCode: 503}
		}
		return []string{"kb-42"}, nil
	}
	key := func(q search) (string, bool) { return fmt.Sprint(q.Collection, q.Text, q.K), true }
	cache := fallback.NewCache(degrade.NewPolicy("qdrant", degrade.WithMaxAttempts(1)), query, key)
	ctx := context.Background()
	q := search{Collection: "kb", Text: "rotate a key", K: 1}

	r, _ := cache.Do(ctx, q)
	fmt.Println(r.Marker, r.Value)
	down.Store(true)
	r, _ = cache.Do(ctx, q)
	fmt.Println(r.Marker, r.Value)
	_, err := cache.Do(ctx, search{Collection: "kb", Text: "never asked", K: 1})
	fmt.Println(err != nil)
	// Output:
	// fresh [kb-42]
	// stale [kb-42]
	// true
}

// The embedding service goes down: the vectors it returned before are
// served from the cache, marked so the caller knows, and never for another
// model.
func ExampleEmbeddings() {
	var down atomic.Bool
	embed := func(ctx context.Context, model string, inputs []string) ([][]float32, error) {
		if down.Load() {
			return nil, &degrade.StatusError{StatusCode: 503}
		}
		out := make([][]float32, len(inputs))
		for i := range inputs {
			out[i] = []float32{0.1, 0.2, 0.3}
		}
		return out, nil
	}
	emb := fallback.NewEmbeddings(degrade.NewPolicy("embeddings", degrade.WithMaxAttempts(1)), embed,
		fallback.WithSize(10000), fallback.WithTTL(time.Nanosecond))
	ctx := context.Background()

	r, _ := emb.Embed(ctx, "text-embedding-3-small", []string{"reset my password"})
	fmt.Println(r.Marker, len(r.Value[0]))

	down.Store(true)
	r, err := emb.Embed(ctx, "text-embedding-3-small", []string{"reset my password"})
	fmt.Println(r.Marker, len(r.Value[0]), err)

	_, err = emb.Embed(ctx, "text-embedding-3-large", []string{"reset my password"})
	fmt.Println(errors.Is(err, degrade.ErrRetriesExhausted))
	// Output:
	// fresh 3
	// stale 3 <nil>
	// true
}
