package degrade_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/health/degrade"
)

// fakeEmbedder returns vectors of dim derived from the input, and fails
// while down.
type fakeEmbedder struct {
	mu    sync.Mutex
	down  bool
	dim   int
	calls [][]string
}

func (f *fakeEmbedder) Embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, append([]string(nil), inputs...))
	if f.down {
		return nil, &degrade.StatusError{StatusCode: 503}
	}
	out := make([][]float32, len(inputs))
	for i, in := range inputs {
		v := make([]float32, f.dim)
		for j := range v {
			v[j] = float32(len(in)+len(model)) + float32(j)
		}
		out[i] = v
	}
	return out, nil
}

func (f *fakeEmbedder) set(down bool, dim int) {
	f.mu.Lock()
	f.down, f.dim = down, dim
	f.mu.Unlock()
}

func (f *fakeEmbedder) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func quickPolicy(name string, opts ...degrade.Option) *degrade.Policy {
	return degrade.NewPolicy(name, append([]degrade.Option{degrade.WithLogger(quiet), degrade.WithMaxAttempts(1)}, opts...)...)
}

func TestEmbeddingsReadThroughAndStale(t *testing.T) {
	clk := newClock()
	f := &fakeEmbedder{dim: 4}
	e := degrade.NewEmbeddings(f, quickPolicy("embeddings"), degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithCache(100, time.Hour))
	ctx := context.Background()

	r, err := e.Embed(ctx, "text-embedding-3-small", []string{"a", "bb"})
	require.NoError(t, err)
	assert.Equal(t, degrade.Fresh, r.Marker)
	require.Len(t, r.Value, 2)

	r, err = e.Embed(ctx, "text-embedding-3-small", []string{"bb", "a"})
	require.NoError(t, err)
	assert.Equal(t, degrade.Cached, r.Marker)
	assert.Equal(t, 1, f.callCount(), "read-through: no second call")

	// A partly cached request sends only the missing input.
	_, err = e.Embed(ctx, "text-embedding-3-small", []string{"a", "ccc"})
	require.NoError(t, err)
	assert.Equal(t, []string{"ccc"}, f.calls[1])

	// Outage past the TTL: served stale, never silently.
	clk.Advance(2 * time.Hour)
	f.set(true, 4)
	r, err = e.Embed(ctx, "text-embedding-3-small", []string{"a", "bb"})
	require.NoError(t, err)
	assert.Equal(t, degrade.Stale, r.Marker)
	assert.True(t, r.Marker.Degraded())
	assert.Equal(t, int64(1), e.Counts()[degrade.Stale])

	// An input never seen cannot be served: the caller is told.
	_, err = e.Embed(ctx, "text-embedding-3-small", []string{"a", "never seen"})
	assert.ErrorIs(t, err, degrade.ErrRetriesExhausted)
}

func TestEmbeddingsNeverCrossModelsOrDimensions(t *testing.T) {
	f := &fakeEmbedder{dim: 4}
	e := degrade.NewEmbeddings(f, quickPolicy("embeddings"), degrade.WithLogger(quiet))
	ctx := context.Background()
	_, err := e.Embed(ctx, "model-a", []string{"hello"})
	require.NoError(t, err)

	// Another model: a miss, and when the service is down, an error rather
	// than model-a's vector.
	f.set(true, 4)
	_, err = e.Embed(ctx, "model-b", []string{"hello"})
	assert.Error(t, err)

	// The model's dimension changed (a new version behind the same name):
	// vectors of the old dimension are never served again.
	e2 := degrade.NewEmbeddings(f, quickPolicy("embeddings"), degrade.WithLogger(quiet))
	f.set(false, 4)
	_, err = e2.Embed(ctx, "model-a", []string{"old"})
	require.NoError(t, err)
	f.set(false, 8)
	r, err := e2.Embed(ctx, "model-a", []string{"new"})
	require.NoError(t, err)
	assert.Len(t, r.Value[0], 8)
	f.set(true, 8)
	_, err = e2.Embed(ctx, "model-a", []string{"old"})
	assert.Error(t, err, "a 4-dimension vector is not served for an 8-dimension model")
	r, err = e2.Embed(ctx, "model-a", []string{"new"})
	require.NoError(t, err)
	assert.Len(t, r.Value[0], 8)
}

func TestEmbeddingsCanceledIsNotHidden(t *testing.T) {
	f := &fakeEmbedder{dim: 2}
	e := degrade.NewEmbeddings(f, quickPolicy("embeddings"), degrade.WithLogger(quiet))
	_, err := e.Embed(context.Background(), "m", []string{"x"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.Embed(ctx, "m", []string{"y"})
	assert.ErrorIs(t, err, context.Canceled)
}

type fakeSearcher struct {
	down bool
	n    int
}

func (f *fakeSearcher) Search(ctx context.Context, req degrade.SearchRequest) ([]degrade.Match, error) {
	f.n++
	if f.down {
		return nil, &degrade.StatusError{StatusCode: 503}
	}
	return []degrade.Match{{ID: req.Collection + "-doc-" + string(rune('0'+f.n)), Score: 0.9}}, nil
}

func TestSearchServesLastGoodMarkedStale(t *testing.T) {
	f := &fakeSearcher{}
	s := degrade.NewSearch(f, quickPolicy("qdrant"), degrade.WithLogger(quiet))
	ctx := context.Background()
	q := degrade.SearchRequest{Collection: "tickets", Vector: []float32{0.1, 0.2}, K: 3}
	r, err := s.Search(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, degrade.Fresh, r.Marker)
	r, err = s.Search(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, "tickets-doc-2", r.Value[0].ID, "not served from the cache while up")

	f.down = true
	r, err = s.Search(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, degrade.Stale, r.Marker)
	assert.Equal(t, "tickets-doc-2", r.Value[0].ID)

	for _, other := range []degrade.SearchRequest{
		{Collection: "tickets", Vector: []float32{0.1, 0.2}, K: 4},
		{Collection: "docs", Vector: []float32{0.1, 0.2}, K: 3},
		{Collection: "tickets", Vector: []float32{0.1, 0.3}, K: 3},
	} {
		_, err = s.Search(ctx, other)
		assert.Error(t, err, "no last-good result for another query: an error, never an empty result")
	}
}

type fakeModel struct {
	name string
	err  error
	n    int
}

func (m *fakeModel) Chat(ctx context.Context, req degrade.ChatRequest) (degrade.ChatResponse, error) {
	m.n++
	if m.err != nil {
		return degrade.ChatResponse{}, m.err
	}
	return degrade.ChatResponse{Model: req.Model, Content: m.name + " answers"}, nil
}

func TestChatFallbackChain(t *testing.T) {
	primary := &fakeModel{name: "openai", err: &degrade.StatusError{StatusCode: 503}}
	second := &fakeModel{name: "anthropic"}
	c, err := degrade.NewChat([]degrade.Link{
		{Name: "openai", Model: primary, Policy: quickPolicy("openai")},
		{Name: "anthropic", Model: second, Policy: quickPolicy("anthropic"), Rewrite: func(r degrade.ChatRequest) degrade.ChatRequest {
			r.Model = "claude-haiku"
			return r
		}},
	}, degrade.WithLogger(quiet))
	require.NoError(t, err)
	ctx := context.Background()
	r, err := c.Chat(ctx, degrade.ChatRequest{Model: "gpt-4o-mini", Messages: []degrade.Message{{Role: "user", Content: "hi"}}})
	require.NoError(t, err)
	assert.Equal(t, degrade.Fallback, r.Marker)
	assert.Equal(t, "anthropic", r.Source)
	assert.Equal(t, "claude-haiku", r.Value.Model)

	// A bad request stops the chain: another provider would refuse it too.
	primary.err = &degrade.StatusError{StatusCode: 400}
	second.n = 0
	_, err = c.Chat(ctx, degrade.ChatRequest{Model: "gpt-4o-mini"})
	assert.ErrorIs(t, err, degrade.ErrPermanent)
	assert.Zero(t, second.n)

	// Every link out: the first error comes back.
	primary.err = &degrade.StatusError{StatusCode: 503}
	second.err = &degrade.StatusError{StatusCode: 401}
	_, err = c.Chat(ctx, degrade.ChatRequest{Model: "gpt-4o-mini"})
	assert.ErrorIs(t, err, degrade.ErrRetriesExhausted)
	assert.Equal(t, int64(1), c.Counts()[degrade.Fallback])

	_, err = degrade.NewChat(nil)
	assert.Error(t, err)
}

func TestChatPromptCacheOnlyForDeterministic(t *testing.T) {
	m := &fakeModel{name: "openai"}
	c, err := degrade.NewChat([]degrade.Link{{Name: "openai", Model: m, Policy: quickPolicy("openai")}},
		degrade.WithLogger(quiet), degrade.WithCache(10, time.Hour))
	require.NoError(t, err)
	ctx := context.Background()
	req := degrade.ChatRequest{Model: "gpt-4o-mini", Messages: []degrade.Message{{Role: "user", Content: "2+2?"}}, Deterministic: true}
	r, err := c.Chat(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, degrade.Fresh, r.Marker)
	r, err = c.Chat(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, degrade.Cached, r.Marker)
	assert.Equal(t, 1, m.n)

	other := req
	other.Model = "gpt-4o"
	_, _ = c.Chat(ctx, other)
	assert.Equal(t, 2, m.n, "another model is another prompt")

	req.Deterministic = false
	_, _ = c.Chat(ctx, req)
	_, _ = c.Chat(ctx, req)
	assert.Equal(t, 4, m.n, "non-deterministic requests are never cached")
}

func TestChatQueuesWhenEveryLinkIsDown(t *testing.T) {
	clk := newClock()
	m := &fakeModel{name: "openai", err: &degrade.StatusError{StatusCode: 503}}
	var mu sync.Mutex
	qp := degrade.NewPolicy("openai", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithMaxAttempts(1), degrade.WithBackoff(time.Second, time.Second))
	q := degrade.NewQueue(qp, func(ctx context.Context, r degrade.ChatRequest) (degrade.ChatResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		return m.Chat(ctx, r)
	}, nil, degrade.WithClock(clk), degrade.WithLogger(quiet))
	defer q.Close()
	c, err := degrade.NewChat([]degrade.Link{{Name: "openai", Model: lockedModel{m, &mu}, Policy: quickPolicy("openai", degrade.WithClock(clk))}},
		degrade.WithLogger(quiet), degrade.WithClock(clk), degrade.WithChatQueue(q))
	require.NoError(t, err)

	var r degrade.Result[degrade.ChatResponse]
	var cerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, cerr = c.Chat(context.Background(), degrade.ChatRequest{Model: "gpt-4o-mini"})
	}()
	require.True(t, clk.WaitTimers(context.Background(), 1), "queued and waiting on the outage")
	mu.Lock()
	m.err = nil
	mu.Unlock()
	drive(clk, done)
	require.NoError(t, cerr)
	assert.Equal(t, degrade.Queued, r.Marker)
	assert.Equal(t, "openai answers", r.Value.Content)
}

type lockedModel struct {
	m  *fakeModel
	mu *sync.Mutex
}

func (l lockedModel) Chat(ctx context.Context, r degrade.ChatRequest) (degrade.ChatResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Chat(ctx, r)
}

func TestDegradedStateLoggedOncePerChange(t *testing.T) {
	var logs strings.Builder
	f := &fakeEmbedder{dim: 2}
	e := degrade.NewEmbeddings(f, quickPolicy("embeddings"), degrade.WithLogger(newTextLogger(&logs)), degrade.WithCache(10, time.Nanosecond))
	ctx := context.Background()
	_, err := e.Embed(ctx, "m", []string{"x"})
	require.NoError(t, err)
	f.set(true, 2)
	for i := 0; i < 3; i++ {
		r, err := e.Embed(ctx, "m", []string{"x"})
		require.NoError(t, err)
		require.Equal(t, degrade.Stale, r.Marker)
	}
	f.set(false, 2)
	_, err = e.Embed(ctx, "m", []string{"x"})
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(logs.String(), "serving degraded answers"))
	assert.Equal(t, 1, strings.Count(logs.String(), "serving fresh answers again"))
	assert.Equal(t, map[degrade.Marker]int64{degrade.Fresh: 2, degrade.Stale: 3}, e.Counts())
}
