package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
	"github.com/credkit/credkit/health/degrade/queue"
)

// Config is what [NewService] needs.
type Config struct {
	// BaseURL of the OpenAI API ("https://api.openai.com/v1/" or the fake's).
	BaseURL string
	// Key is the API key, kept current by a rotate.Set.
	Key credential.Credential
	// Store is the vector database.
	Store Store
	// EmbeddingModel embeds documents and questions.
	EmbeddingModel string
	// ChatModels answer, the first one first; the others are fallbacks.
	ChatModels []string
	// Logger, redacting (see main.go). Nil discards.
	Logger *slog.Logger
	// HealthToken lets on-call read /readyz?verbose.
	HealthToken string
	// Checks are extra readiness checks (the key's, from health.SetChecks).
	Checks []health.Check
	// Tuning of the policies; zero values keep degrade's defaults.
	Tuning Tuning
}

// Tuning sets the policies' timings. Production keeps degrade's defaults
// (4 attempts, 200 ms to 10 s backoff, breaker at 50 % of 10 calls in a
// minute, open 30 s); the demo shortens them to run in a second.
type Tuning struct {
	Attempts         int
	Backoff, Max     time.Duration
	BreakerMinVolume int
	OpenFor          time.Duration
}

func (t Tuning) options(logger *slog.Logger) []degrade.PolicyOption {
	opts := []degrade.PolicyOption{degrade.WithLogger(logger)}
	if t.Attempts > 0 {
		opts = append(opts, degrade.WithMaxAttempts(t.Attempts))
	}
	if t.Backoff > 0 {
		opts = append(opts, degrade.WithBackoff(t.Backoff, t.Max))
	}
	if t.BreakerMinVolume > 0 {
		opts = append(opts, degrade.WithBreaker(0.5, t.BreakerMinVolume, time.Minute))
	}
	if t.OpenFor > 0 {
		opts = append(opts, degrade.WithOpenFor(t.OpenFor, 1))
	}
	return opts
}

// SearchReq is one vector search: the question's text (the cache key) and
// its vector.
type SearchReq struct {
	Model  string
	Text   string
	Vector []float32
	N      int
}

// Service is the retrieval service: ingest documents, answer questions
// from them.
type Service struct {
	cfg    Config
	logger *slog.Logger
	client openai.Client

	// One policy per dependency, each with its own circuit breaker: the
	// embedding model, each chat model, the vector store. They live at the
	// call, not in the HTTP client, because one client talks to every
	// model and one breaker would open for all when only one is down.
	embedPolicy *degrade.Policy
	chatPolicy  []*degrade.Policy
	storePolicy *degrade.Policy

	embed  *fallback.Embeddings                                                    // vectors by (model, text): never crosses models
	search *fallback.Cache[SearchReq, []Hit]                                       // last good results per question: stale when the store fails
	chat   *fallback.Chain[openai.ChatCompletionNewParams, *openai.ChatCompletion] // primary model, then the fallbacks
	ingest *queue.Queue[Doc, string]                                               // documents waiting for the embedding API

	monitor *health.Monitor
	mux     *http.ServeMux

	mu      sync.Mutex
	pending []*queue.Handle[string]
}

// NewService wires the service. Close releases it.
func NewService(cfg Config) (*Service, error) {
	if cfg.Key == nil || cfg.Store == nil || cfg.EmbeddingModel == "" || len(cfg.ChatModels) == 0 {
		return nil, errors.New("rag: Config needs Key, Store, EmbeddingModel and ChatModels")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, logger: logger}

	// The SDK gets a client, not a key: credential.Transport injects the
	// current key and, on a 401, refreshes it and retries once. The SDK's
	// own retries are off: the policies own the attempts.
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &credential.Transport{Credential: cfg.Key}}
	s.client = openai.NewClient(
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0), // degrade owns the retries
		option.WithBaseURL(cfg.BaseURL),
	)

	opts := cfg.Tuning.options(logger)
	s.embedPolicy = degrade.NewPolicy("openai-embeddings", opts...)
	s.storePolicy = degrade.NewPolicy("vectorstore", opts...)
	s.embed = fallback.NewEmbeddings(s.embedPolicy, s.embedAPI, fallback.WithSize(100_000), fallback.WithLogger(logger))
	s.search = fallback.NewCache(s.storePolicy,
		func(ctx context.Context, r SearchReq) ([]Hit, error) { return cfg.Store.Search(ctx, r.Vector, r.N) },
		func(r SearchReq) (string, bool) { return r.Model + "\x00" + strconv.Itoa(r.N) + "\x00" + r.Text, true },
		fallback.WithSize(10_000), fallback.WithLogger(logger)) // no TTL: always read through, stale only on failure

	links := make([]fallback.Link[openai.ChatCompletionNewParams, *openai.ChatCompletion], len(cfg.ChatModels))
	for i, model := range cfg.ChatModels {
		p := degrade.NewPolicy("openai-chat-"+model, opts...)
		s.chatPolicy = append(s.chatPolicy, p)
		links[i] = fallback.Link[openai.ChatCompletionNewParams, *openai.ChatCompletion]{
			Name: model, Policy: p,
			Call: func(ctx context.Context, params openai.ChatCompletionNewParams) (*openai.ChatCompletion, error) {
				params.Model = model // everything else (messages, temperature, tools) reaches every link untouched
				return s.client.Chat.Completions.New(ctx, params)
			},
		}
	}
	chain, err := fallback.NewChain(links, fallback.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	s.chat = chain

	// Documents that arrive while the embedding API is down wait here; the
	// queue shares the embedding policy, so it waits for its breaker.
	s.ingest, err = queue.New(s.embedPolicy, func(ctx context.Context, it queue.Item[Doc]) (string, error) {
		return it.Value.ID, s.index(ctx, []Doc{it.Value})
	}, nil, queue.WithCapacity(10_000), queue.WithMaxWait(24*time.Hour), queue.WithLogger(logger))
	if err != nil {
		return nil, err
	}

	checks := append([]health.Check(nil), cfg.Checks...)
	// The model API is shared by every replica: an open breaker warns.
	checks = append(checks, s.embedPolicy.Checks(degrade.Shared)...)
	for _, p := range s.chatPolicy {
		checks = append(checks, p.Checks(degrade.Shared)...)
	}
	// The vector store is this replica's own: when it fails, readiness
	// fails and the load balancer sends questions to replicas that can
	// search (this one still answers, stale, to what reaches it).
	checks = append(checks, s.storePolicy.Checks(degrade.Critical)...)
	checks = append(checks, health.Check{Name: "vectorstore:ping", Component: "vectorstore", Measurement: "ping",
		ComponentType: "datastore", Critical: true, Interval: 5 * time.Second,
		Run: func(ctx context.Context) health.Result { return health.FromError(cfg.Store.Ping(ctx)) }})
	checks = append(checks, health.Check{Name: "ingest:queue", Component: "ingest", Measurement: "queue",
		Interval: 5 * time.Second, Run: func(ctx context.Context) health.Result {
			n, err := s.ingest.Len(ctx)
			if err != nil {
				return health.FromError(err)
			}
			r := health.Passed("")
			if n > 0 {
				r = health.Warned(strconv.Itoa(n) + " documents waiting for the embedding API")
			}
			r.ObservedValue, r.ObservedUnit = n, "documents"
			return r
		}})
	s.monitor = health.NewMonitor(checks, health.WithLogger(logger))

	h := health.NewHandler(s.monitor, health.WithToken(cfg.HealthToken))
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /livez", h)
	s.mux.Handle("GET /readyz", h)
	s.mux.Handle("GET /readyz/", h)
	s.mux.HandleFunc("POST /v1/documents", s.handleDocuments)
	s.mux.HandleFunc("POST /v1/ask", s.handleAsk)
	return s, nil
}

// ServeHTTP serves the service's API and its health endpoints.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the health monitor and the ingest queue (documents still
// queued are dropped with the in-memory store: give queue.New a durable
// Store to keep them).
func (s *Service) Close() {
	s.ingest.Close()
	s.monitor.Close()
}

// embedAPI is the fallback.EmbedFunc: one call to the embeddings endpoint.
func (s *Service) embedAPI(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	resp, err := s.client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: openai.EmbeddingModel(model),
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
	})
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(inputs))
	for _, d := range resp.Data {
		if d.Index < 0 || int(d.Index) >= len(out) {
			return nil, fmt.Errorf("embedding index %d out of range", d.Index)
		}
		v := make([]float32, len(d.Embedding))
		for i, x := range d.Embedding {
			v[i] = float32(x)
		}
		out[d.Index] = v
	}
	return out, nil
}

// index embeds docs and stores them.
func (s *Service) index(ctx context.Context, docs []Doc) error {
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	r, err := s.embed.Embed(ctx, s.cfg.EmbeddingModel, texts)
	if err != nil {
		return err
	}
	return s.storePolicy.Do(ctx, func(ctx context.Context) error { return s.cfg.Store.Add(ctx, docs, r.Value) })
}

// Ingest embeds and stores docs: fresh (or cached, for texts it embedded
// before). When the embedding API is down the documents are queued and
// stored once it is back: the marker is then queued.
func (s *Service) Ingest(ctx context.Context, docs []Doc) (degrade.Marker, error) {
	err := s.index(ctx, docs)
	if err == nil {
		return degrade.Fresh, nil
	}
	if ctx.Err() != nil || errors.Is(err, degrade.ErrPermanent) || errors.Is(err, degrade.ErrCredentialRejected) || errors.Is(err, degrade.ErrQuotaExhausted) {
		return 0, err
	}
	for _, d := range docs {
		h, qerr := s.ingest.Submit(context.WithoutCancel(ctx), d)
		if qerr != nil {
			return 0, qerr
		}
		s.mu.Lock()
		s.pending = append(s.pending, h)
		s.mu.Unlock()
	}
	s.logger.Warn("rag: documents queued", "count", len(docs), "err", err)
	return degrade.Queued, nil
}

// WaitIngested waits until every queued document was stored (or failed
// for good), and returns how many were.
func (s *Service) WaitIngested(ctx context.Context) (stored int, err error) {
	s.mu.Lock()
	hs := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, h := range hs {
		if _, err := h.Wait(ctx); err != nil {
			return stored, err
		}
		stored++
	}
	return stored, nil
}

// Answer is what /v1/ask returns.
type Answer struct {
	Text    string   `json:"answer"`
	Model   string   `json:"model"`
	Sources []string `json:"sources"`
	// Markers: how each step was served (fresh, cached, stale, fallback).
	Embedding string `json:"embedding"`
	Search    string `json:"search"`
	Chat      string `json:"chat"`
}

// ErrNoVector: the question is new and the embedding API is down.
var ErrNoVector = errors.New("rag: the embedding API is unavailable and the question was never embedded")

// ErrNoSearch: the vector store is down and the question was never
// searched.
var ErrNoSearch = errors.New("rag: the vector store is unavailable and the question was never searched")

// ErrNoModel: every chat model failed.
var ErrNoModel = errors.New("rag: no chat model answered")

// Ask answers question from the three nearest documents.
func (s *Service) Ask(ctx context.Context, question string) (Answer, error) {
	e, err := s.embed.Embed(ctx, s.cfg.EmbeddingModel, []string{question})
	if err != nil {
		s.logger.Warn("rag: embedding failed", "err", err)
		return Answer{}, errors.Join(ErrNoVector, err)
	}
	hits, err := s.search.Do(ctx, SearchReq{Model: s.cfg.EmbeddingModel, Text: question, Vector: e.Value[0], N: 3})
	if err != nil {
		s.logger.Warn("rag: search failed", "err", err)
		return Answer{}, errors.Join(ErrNoSearch, err)
	}
	var prompt strings.Builder
	prompt.WriteString("Sources:\n")
	a := Answer{Embedding: e.Marker.String(), Search: hits.Marker.String()}
	for _, h := range hits.Value {
		fmt.Fprintf(&prompt, "[%s] %s\n", h.ID, h.Content)
		a.Sources = append(a.Sources, h.ID)
	}
	prompt.WriteString("\nQuestion: " + question)
	c, err := s.chat.Do(ctx, openai.ChatCompletionNewParams{
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Answer from the sources only, and name the source you used."),
			openai.UserMessage(prompt.String()),
		},
		Temperature: openai.Float(0),
	})
	if err != nil {
		s.logger.Warn("rag: chat failed", "err", err)
		return Answer{}, errors.Join(ErrNoModel, err)
	}
	if len(c.Value.Choices) == 0 {
		return Answer{}, ErrNoModel
	}
	a.Text, a.Model, a.Chat = c.Value.Choices[0].Message.Content, c.Source, c.Marker.String()
	return a, nil
}

func (s *Service) handleDocuments(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Documents []Doc `json:"documents"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || len(req.Documents) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"documents\": [{\"id\", \"text\"}...]}"})
		return
	}
	m, err := s.Ingest(r.Context(), req.Documents)
	if err != nil {
		s.logger.Error("rag: ingest failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "documents not stored"})
		return
	}
	code := http.StatusOK
	if m == degrade.Queued {
		code = http.StatusAccepted
	}
	writeJSON(w, code, map[string]any{"marker": m.String(), "documents": len(req.Documents)})
}

func (s *Service) handleAsk(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Question string `json:"question"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.Question == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"question\": \"...\"}"})
		return
	}
	a, err := s.Ask(r.Context(), req.Question)
	if err != nil {
		// The message names the step, never the cause's text (a third
		// party's words, logged through the redacting handler instead).
		msg := "unavailable"
		for _, e := range []error{ErrNoVector, ErrNoSearch, ErrNoModel} {
			if errors.Is(err, e) {
				msg = e.Error()
			}
		}
		w.Header().Set("Retry-After", "30")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": msg})
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// RunChecks runs every health check now and waits until each has a
// result from that run, so that /readyz reflects the present.
func (s *Service) RunChecks(ctx context.Context) error {
	start := time.Now()
	for _, v := range s.monitor.Results() {
		s.monitor.RunNow(v.Check.Name)
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		fresh := true
		for _, v := range s.monitor.Results() {
			if v.Result.Time.Before(start) {
				fresh = false
				break
			}
		}
		if fresh {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// breakers returns every policy's circuit breaker.
func (s *Service) breakers() []*degrade.Breaker {
	var out []*degrade.Breaker
	for _, p := range append([]*degrade.Policy{s.embedPolicy, s.storePolicy}, s.chatPolicy...) {
		if br := p.Breaker(); br != nil {
			out = append(out, br)
		}
	}
	return out
}
