// Command anthropic is a small question-answering service on
// anthropic-sdk-go v2, wired the way credkit recommends: the API key from a
// rotate.Set (a file or an environment variable, kept current while the
// service runs) sent as x-api-key by credential.Transport, the SDK's
// environment defaults and its own retries off, degrade's policy retrying
// Anthropic's 529 overloaded answers, a fallback from one model to another
// when the first stays overloaded, a logger that redacts every key the Set
// holds, and /livez and /readyz on the service's own mux.
//
// Offline (the default) it starts an in-process fake of the Messages API,
// runs 4 clients that stream and ask through the service, rotates the key
// file twice under their open streams, then overloads the primary model:
//
//	go run .
//
// Against the real API, with your key in a file or in the environment
// (any credkit URL works in ANTHROPIC_API_KEY_URL):
//
//	ANTHROPIC_API_KEY_URL=file:///run/secrets/anthropic go run . -addr :8080
//	ANTHROPIC_API_KEY=sk-ant-... go run . -addr :8080
//	curl -N localhost:8080/v1/ask -d '{"prompt":"Say hi","stream":true}'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

func main() {
	log.SetFlags(0)
	addr := flag.String("addr", ":8080", "where to serve, against the real API")
	baseURL := flag.String("base-url", "", "the API's base URL, for a proxy or a compatible gateway (default: the real API)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	keyURL := os.Getenv("ANTHROPIC_API_KEY_URL")
	if keyURL == "" && os.Getenv("ANTHROPIC_API_KEY") != "" {
		keyURL = "env://ANTHROPIC_API_KEY"
	}
	if keyURL == "" {
		st, err := Demo(ctx, DemoConfig{Clients: 4, Rotations: 2, Rounds: 6, Overloaded: 6, Out: os.Stdout})
		if err == nil {
			err = st.Check()
		}
		if err != nil {
			log.Fatal(err)
		}
		return
	}
	cfg := Config{KeyURL: keyURL, BaseURL: *baseURL, LogOut: os.Stderr}
	if os.Getenv("HEALTH_TOKEN") != "" {
		cfg.HealthTokenURL = "env://HEALTH_TOKEN"
	}
	if err := serve(ctx, *addr, cfg); err != nil {
		log.Fatal(err)
	}
}

// serve runs the service on addr against the real API until ctx ends.
func serve(ctx context.Context, addr string, cfg Config) error {
	svc, err := NewService(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	srv := &http.Server{Addr: addr, Handler: svc.Mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	svc.Logger.Info("serving", "addr", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// The models: the primary, and the one the service falls back to while
// the primary is overloaded.
const (
	PrimaryModel  = anthropic.ModelClaudeSonnet4_6
	FallbackModel = anthropic.ModelClaudeHaiku4_5
)

// Config is what [NewService] needs.
type Config struct {
	// KeyURL is a credkit URL for the Anthropic key:
	// file:///run/secrets/anthropic, env://ANTHROPIC_API_KEY, or a secret
	// manager's.
	KeyURL string
	// HealthTokenURL, when set, is a credkit URL for the bearer token that
	// /readyz?verbose and /readyz/NAME require for detail.
	HealthTokenURL string
	// BaseURL is the API's base URL; empty means the real one.
	BaseURL string
	// Resolver resolves the URLs; nil means provider.NewURLMux().
	Resolver credential.Resolver
	// LogOut receives the service's JSON log.
	LogOut io.Writer
	// Policy options added to each model's defaults.
	Policy []degrade.PolicyOption
}

// Service is the wiring: the key, one policy and client per model, the
// fallback chains, health.
type Service struct {
	Set      *rotate.Set
	Key      *rotate.Credential
	Policies map[anthropic.Model]*degrade.Policy
	// Ask answers a message from the primary model, or from the fallback
	// model while the primary is overloaded; Stream does the same for a
	// stream, falling back only before its first event.
	Ask     *fallback.Chain[anthropic.MessageNewParams, *anthropic.Message]
	Stream  *fallback.Chain[anthropic.MessageNewParams, *Stream]
	Monitor *health.Monitor
	Logger  *slog.Logger
	// Mux serves POST /v1/ask, /livez and /readyz.
	Mux   *http.ServeMux
	close []func()
}

// NewService opens the key and wires the clients, the chains, the logger,
// health and the handlers.
func NewService(ctx context.Context, cfg Config) (*Service, error) {
	s := &Service{Policies: map[anthropic.Model]*degrade.Policy{}}
	r := redact.New()
	s.Logger = slog.New(redact.NewHandler(slog.NewJSONHandler(cfg.LogOut, nil), r))
	res := cfg.Resolver
	if res == nil {
		res = provider.NewURLMux()
	}
	cfgs := []rotate.Config{{Name: "anthropic", URL: cfg.KeyURL, Metadata: credential.Metadata{
		Owner: "assistant-team@example.com", Purpose: "answers for the assistant",
		System: "api.anthropic.com", Scopes: []string{"messages"}, RotationPeriod: 90 * 24 * time.Hour}}}
	if cfg.HealthTokenURL != "" {
		cfgs = append(cfgs, rotate.Config{Name: "health-token", URL: cfg.HealthTokenURL, Metadata: credential.Metadata{
			Owner: "platform@example.com", Purpose: "detail of /readyz for operators"}})
	}
	set, err := rotate.Open(ctx, res, cfgs, rotate.WithLogger(s.Logger))
	if err != nil {
		return nil, err
	}
	s.Set = set
	s.close = append(s.close, func() { set.Close() }, r.Track(set)) // every key the Set holds, old ones too, is redacted
	if s.Key, err = set.Credential("anthropic"); err != nil {
		s.Close()
		return nil, err
	}
	var token string
	if cfg.HealthTokenURL != "" {
		c, err := set.Credential("health-token")
		if err != nil {
			s.Close()
			return nil, err
		}
		v, err := c.Get(ctx)
		if err != nil {
			s.Close()
			return nil, err
		}
		token = v.Reveal()
	}

	// One client per model, each with its own policy: Anthropic overloads
	// one model at a time, so the primary's breaker must not stop the
	// fallback. The key goes in x-api-key; WithoutEnvironmentDefaults
	// keeps the SDK from looking for a key of its own (finding none, it
	// would refuse every request before sending); WithMaxRetries(0) leaves
	// the retries to degrade.
	keyTransport := &credential.Transport{Credential: s.Key, Inject: credential.Header("X-Api-Key")}
	clients := map[anthropic.Model]anthropic.Client{}
	var checks []health.Check
	for _, m := range []anthropic.Model{PrimaryModel, FallbackModel} {
		opts := append([]degrade.PolicyOption{degrade.WithRefresher(s.Key), degrade.WithLogger(s.Logger)}, cfg.Policy...)
		p := degrade.NewPolicy(string(m), opts...)
		s.Policies[m] = p
		checks = append(checks, p.Checks(degrade.Shared)...)
		clientOpts := []option.RequestOption{
			option.WithoutEnvironmentDefaults(), // the key lives in credkit, not in the environment
			option.WithHTTPClient(&http.Client{Transport: degrade.NewRoundTripper(keyTransport, p)}),
			option.WithMaxRetries(0), // degrade owns the retries
		}
		if cfg.BaseURL != "" {
			clientOpts = append(clientOpts, option.WithBaseURL(cfg.BaseURL))
		}
		clients[m] = anthropic.NewClient(clientOpts...)
	}
	link := func(m anthropic.Model) fallback.Link[anthropic.MessageNewParams, *anthropic.Message] {
		c := clients[m]
		return fallback.Link[anthropic.MessageNewParams, *anthropic.Message]{Name: string(m),
			Call: func(ctx context.Context, p anthropic.MessageNewParams) (*anthropic.Message, error) {
				p.Model = m // the rest of the request — system prompt, tools, temperature — goes as it is
				return c.Messages.New(ctx, p)
			}}
	}
	streamLink := func(m anthropic.Model) fallback.Link[anthropic.MessageNewParams, *Stream] {
		c := clients[m]
		return fallback.Link[anthropic.MessageNewParams, *Stream]{Name: string(m),
			Call: func(ctx context.Context, p anthropic.MessageNewParams) (*Stream, error) {
				p.Model = m
				return openStream(c.Messages.NewStreaming(ctx, p))
			}}
	}
	if s.Ask, err = fallback.NewChain([]fallback.Link[anthropic.MessageNewParams, *anthropic.Message]{
		link(PrimaryModel), link(FallbackModel)}, fallback.WithLogger(s.Logger)); err != nil {
		s.Close()
		return nil, err
	}
	if s.Stream, err = fallback.NewChain([]fallback.Link[anthropic.MessageNewParams, *Stream]{
		streamLink(PrimaryModel), streamLink(FallbackModel)}, fallback.WithLogger(s.Logger)); err != nil {
		s.Close()
		return nil, err
	}

	// Anthropic is shared by every replica: its breakers warn on /readyz,
	// they do not take the replica out of the load balancer.
	checks = append(health.SetChecks(set, health.CredentialOptions{}), checks...)
	s.Monitor = health.NewMonitor(checks, health.WithSanitizer(r.String))
	s.close = append(s.close, func() { s.Monitor.Close() })
	h := health.NewHandler(s.Monitor, health.WithToken(token))

	s.Mux = http.NewServeMux()
	s.Mux.Handle("/livez", h)
	s.Mux.Handle("/readyz", h)
	s.Mux.Handle("/readyz/", h)
	s.Mux.HandleFunc("POST /v1/ask", s.ask)
	return s, nil
}

// Close stops the monitor and the Set.
func (s *Service) Close() {
	for i := len(s.close) - 1; i >= 0; i-- {
		s.close[i]()
	}
}

// Stream is a message stream whose first event has arrived: until then a
// failure (the model overloaded) can still fall back to another model;
// after it the stream is the caller's.
type Stream struct {
	*ssestream.Stream[anthropic.MessageStreamEventUnion]
	first bool
}

// openStream waits for s's first event.
func openStream(s *ssestream.Stream[anthropic.MessageStreamEventUnion]) (*Stream, error) {
	if !s.Next() {
		err := s.Err()
		s.Close()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return &Stream{Stream: s, first: true}, nil
}

// Next advances to the next event; the first call returns the event
// openStream already read.
func (s *Stream) Next() bool {
	if s.first {
		s.first = false
		return true
	}
	return s.Stream.Next()
}

// ask answers {"prompt": "...", "stream": bool}: JSON {"answer", "model",
// "marker", "source"}, or the answer's text streamed as it comes with the
// marker in the X-Answer-Marker header.
func (s *Service) ask(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Prompt string `json:"prompt"`
		Stream bool   `json:"stream"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.Prompt == "" {
		http.Error(w, `want {"prompt": "...", "stream": false}`, http.StatusBadRequest)
		return
	}
	params := anthropic.MessageNewParams{
		Model:     PrimaryModel,
		MaxTokens: 512,
		System:    []anthropic.TextBlockParam{{Text: "You are a terse assistant."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(in.Prompt))},
	}
	start := time.Now()
	if !in.Stream {
		res, err := s.Ask.Do(r.Context(), params)
		if err != nil {
			s.fail(w, "ask", err)
			return
		}
		var b strings.Builder
		for _, c := range res.Value.Content {
			b.WriteString(c.Text)
		}
		s.Logger.Info("ask", "model", res.Value.Model, "marker", res.Marker.String(),
			"tokens", res.Value.Usage.OutputTokens, "ms", time.Since(start).Milliseconds())
		writeJSON(w, map[string]any{"answer": b.String(), "model": res.Value.Model,
			"marker": res.Marker.String(), "source": res.Source})
		return
	}
	res, err := s.Stream.Do(r.Context(), params)
	if err != nil {
		s.fail(w, "ask stream", err)
		return
	}
	stream := res.Value
	defer stream.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Answer-Marker", res.Marker.String())
	w.Header().Set("X-Answer-Model", res.Source)
	events := 0
	for stream.Next() {
		events++
		if d, ok := stream.Current().AsAny().(anthropic.ContentBlockDeltaEvent); ok && d.Delta.Text != "" {
			io.WriteString(w, d.Delta.Text)
			http.NewResponseController(w).Flush()
		}
	}
	if err := stream.Err(); err != nil {
		// The status is sent: say so in the body, and in the log.
		s.Logger.Error("ask stream broke", "events", events, "err", err)
		io.WriteString(w, "\n[stream interrupted]")
		return
	}
	s.Logger.Info("ask stream", "model", res.Source, "marker", res.Marker.String(), "events", events, "ms", time.Since(start).Milliseconds())
}

// fail logs err (through the redacting handler) and answers with what it
// means for the caller, never with its text.
func (s *Service) fail(w http.ResponseWriter, what string, err error) {
	s.Logger.Error(what+" failed", "err", err)
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, degrade.ErrCircuitOpen), errors.Is(err, degrade.ErrRateLimited), errors.Is(err, degrade.ErrRetriesExhausted):
		status = http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	}
	http.Error(w, fmt.Sprintf("%s: the model API is unavailable (%s)", what, strings.ToLower(http.StatusText(status))), status)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
