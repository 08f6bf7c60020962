package fallback_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.uber.org/goleak"

	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
	"github.com/credkit/credkit/health/degrade/internal/degradetest"
	"github.com/credkit/credkit/health/degrade/queue"
)

// fakeEmbedder returns vectors of dim derived from the input, and fails
// while down.
type fakeEmbedder struct {
	mu    sync.Mutex
	down  bool
	dim   int
	calls [][]string
}

func (f *fakeEmbedder) embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	newClock = degradetest.NewClock
	drive    = degradetest.Drive
)

func quickPolicy(name string, opts ...degrade.PolicyOption) *degrade.Policy {
	return degrade.NewPolicy(name, append([]degrade.PolicyOption{degrade.WithMaxAttempts(1)}, opts...)...)
}

func TestEmbeddingsReadThroughAndStale(t *testing.T) {
	clk := newClock()
	f := &fakeEmbedder{dim: 4}
	e := fallback.NewEmbeddings(quickPolicy("embeddings"), f.embed, fallback.WithClock(clk), fallback.WithSize(100), fallback.WithTTL(time.Hour))
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
	e := fallback.NewEmbeddings(quickPolicy("embeddings"), f.embed)
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
	e2 := fallback.NewEmbeddings(quickPolicy("embeddings"), f.embed)
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
	e := fallback.NewEmbeddings(quickPolicy("embeddings"), f.embed)
	_, err := e.Embed(context.Background(), "m", []string{"x"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.Embed(ctx, "m", []string{"y"})
	assert.ErrorIs(t, err, context.Canceled)
}

// query is a vector query of the caller's own type.
type query struct {
	Collection string
	Vector     []float32
	K          int
}

func (q query) key() (string, bool) { return fmt.Sprint(q.Collection, q.Vector, q.K), true }

type match struct {
	ID    string
	Score float32
}

type fakeSearcher struct {
	down bool
	n    int
}

func (f *fakeSearcher) search(ctx context.Context, q query) ([]match, error) {
	f.n++
	if f.down {
		return nil, &degrade.StatusError{StatusCode: 503}
	}
	return []match{{ID: q.Collection + "-doc-" + string(rune('0'+f.n)), Score: 0.9}}, nil
}

func TestCacheServesLastGoodMarkedStale(t *testing.T) {
	f := &fakeSearcher{}
	s := fallback.NewCache(quickPolicy("qdrant"), f.search, query.key)
	ctx := context.Background()
	q := query{Collection: "tickets", Vector: []float32{0.1, 0.2}, K: 3}
	r, err := s.Do(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, degrade.Fresh, r.Marker)
	r, err = s.Do(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, "tickets-doc-2", r.Value[0].ID, "not served from the cache while up (no TTL)")

	f.down = true
	r, err = s.Do(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, degrade.Stale, r.Marker)
	assert.Equal(t, "tickets-doc-2", r.Value[0].ID)

	for _, other := range []query{
		{Collection: "tickets", Vector: []float32{0.1, 0.2}, K: 4},
		{Collection: "docs", Vector: []float32{0.1, 0.2}, K: 3},
		{Collection: "tickets", Vector: []float32{0.1, 0.3}, K: 3},
	} {
		_, err = s.Do(ctx, other)
		assert.Error(t, err, "no last-good result for another query: an error, never an empty result")
	}
}

// chatRequest stands for an SDK's own request type: everything in it
// reaches the link, nothing is lost on the way.
type chatRequest struct {
	Model       string
	System      string
	Messages    []string
	Temperature float64
	Tools       []string
	Stream      bool
}

type chatResponse struct {
	Model   string
	Content string
	Seen    chatRequest
}

type fakeModel struct {
	mu   sync.Mutex
	name string
	err  error
	n    int
}

func (m *fakeModel) call(ctx context.Context, req chatRequest) (chatResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	if m.err != nil {
		return chatResponse{}, m.err
	}
	return chatResponse{Model: req.Model, Content: m.name + " answers", Seen: req}, nil
}

func (m *fakeModel) set(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

func TestChainOverTheCallersTypes(t *testing.T) {
	primary := &fakeModel{name: "openai", err: &degrade.StatusError{StatusCode: 503}}
	second := &fakeModel{name: "anthropic"}
	c, err := fallback.NewChain([]fallback.Link[chatRequest, chatResponse]{
		{Name: "openai", Call: primary.call, Policy: quickPolicy("openai")},
		{Name: "anthropic", Policy: quickPolicy("anthropic"), Call: func(ctx context.Context, r chatRequest) (chatResponse, error) {
			r.Model = "claude-haiku-4-5"
			return second.call(ctx, r)
		}},
	})
	require.NoError(t, err)
	ctx := context.Background()
	req := chatRequest{Model: "gpt-4o-mini", System: "You are terse.", Messages: []string{"hi"},
		Temperature: 0.2, Tools: []string{"search_tickets"}, Stream: true}
	r, err := c.Do(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, degrade.Fallback, r.Marker)
	assert.Equal(t, "anthropic", r.Source)
	assert.Equal(t, "claude-haiku-4-5", r.Value.Model)
	want := req
	want.Model = "claude-haiku-4-5"
	assert.Equal(t, want, r.Value.Seen, "system prompt, temperature, tools and streaming reach the fallback")

	// A bad request stops the chain: another provider would refuse it too.
	primary.set(&degrade.StatusError{StatusCode: 400})
	second.n = 0
	_, err = c.Do(ctx, req)
	assert.ErrorIs(t, err, degrade.ErrPermanent)
	assert.Zero(t, second.n)

	// Every link out: the first error comes back.
	primary.set(&degrade.StatusError{StatusCode: 503})
	second.set(&degrade.StatusError{StatusCode: 401})
	_, err = c.Do(ctx, req)
	assert.ErrorIs(t, err, degrade.ErrRetriesExhausted)
	assert.Equal(t, int64(1), c.Counts()[degrade.Fallback])

	_, err = fallback.NewChain[chatRequest, chatResponse](nil)
	assert.Error(t, err)
}

// A read-through cache over a chain's link keeps only the requests the key
// function allows (deterministic ones).
func TestCacheReadThroughOnlyWhatTheKeyAllows(t *testing.T) {
	m := &fakeModel{name: "openai"}
	key := func(r chatRequest) (string, bool) {
		return fmt.Sprint(r.Model, r.System, r.Messages, r.Tools), r.Temperature == 0
	}
	c := fallback.NewCache(quickPolicy("openai"), m.call, key, fallback.WithTTL(time.Hour), fallback.WithSize(10))
	ctx := context.Background()
	req := chatRequest{Model: "gpt-4o-mini", Messages: []string{"2+2?"}}
	r, err := c.Do(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, degrade.Fresh, r.Marker)
	r, err = c.Do(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, degrade.Cached, r.Marker)
	assert.Equal(t, 1, m.n)

	other := req
	other.Model = "gpt-4o"
	_, _ = c.Do(ctx, other)
	assert.Equal(t, 2, m.n, "another model is another key")

	req.Temperature = 0.7
	_, _ = c.Do(ctx, req)
	_, _ = c.Do(ctx, req)
	assert.Equal(t, 4, m.n, "requests the key refuses are never cached")
}

func TestChainQueuesWhenEveryLinkIsDown(t *testing.T) {
	clk := newClock()
	m := &fakeModel{name: "openai", err: &degrade.StatusError{StatusCode: 503}}
	qp := degrade.NewPolicy("openai", degrade.WithClock(clk), degrade.WithMaxAttempts(1), degrade.WithBackoff(time.Second, time.Second))
	q, err := queue.New(qp, func(ctx context.Context, it queue.Item[chatRequest]) (chatResponse, error) {
		return m.call(ctx, it.Value)
	}, nil, queue.WithClock(clk))
	require.NoError(t, err)
	defer q.Close()
	c, err := fallback.NewChain([]fallback.Link[chatRequest, chatResponse]{
		{Name: "openai", Call: m.call, Policy: quickPolicy("openai", degrade.WithClock(clk))},
		fallback.QueueLink("queue", q),
	}, fallback.WithClock(clk))
	require.NoError(t, err)

	var r degrade.Result[chatResponse]
	var cerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, cerr = c.Do(context.Background(), chatRequest{Model: "gpt-4o-mini"})
	}()
	require.True(t, clk.WaitTimers(context.Background(), 1), "queued and waiting on the outage")
	m.set(nil)
	drive(clk, done)
	require.NoError(t, cerr)
	assert.Equal(t, degrade.Queued, r.Marker)
	assert.Equal(t, "openai answers", r.Value.Content)

	// A bad request is not queued.
	m.set(&degrade.StatusError{StatusCode: 400})
	_, err = c.Do(context.Background(), chatRequest{Model: "gpt-4o-mini"})
	assert.ErrorIs(t, err, degrade.ErrPermanent)
	n, _ := q.Len(context.Background())
	assert.Zero(t, n)
}

func TestDegradedStateLoggedOncePerChange(t *testing.T) {
	var logs strings.Builder
	f := &fakeEmbedder{dim: 2}
	e := fallback.NewEmbeddings(quickPolicy("embeddings"), f.embed, fallback.WithLogger(degradetest.NewTextLogger(&logs)), fallback.WithSize(10), fallback.WithTTL(time.Nanosecond))
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
