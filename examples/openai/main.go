// Command openai is a small chat and embeddings service on openai-go v3,
// wired the way credkit recommends: the API key from a rotate.Set (a file
// or an environment variable, kept current while the service runs),
// credential.Transport putting it on each request, degrade's policy owning
// the retries (the SDK's own are off), a logger that redacts every key the
// Set holds, and /livez and /readyz on the service's own mux.
//
// Offline (the default) it starts an in-process fake of the OpenAI API,
// runs 4 clients that stream, chat and embed through the service, and
// rotates the key file three times under them:
//
//	go run .
//
// Against the real API, with your key in a file or in the environment
// (any credkit URL works in OPENAI_API_KEY_URL):
//
//	OPENAI_API_KEY_URL=file:///run/secrets/openai go run . -addr :8080
//	OPENAI_API_KEY=sk-... go run . -addr :8080
//	curl -N localhost:8080/v1/chat -d '{"prompt":"Say hi","stream":true}'
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

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/health/degrade"
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

	keyURL := os.Getenv("OPENAI_API_KEY_URL")
	if keyURL == "" && os.Getenv("OPENAI_API_KEY") != "" {
		keyURL = "env://OPENAI_API_KEY"
	}
	if keyURL == "" {
		st, err := Demo(ctx, DemoConfig{Clients: 4, Rotations: 3, Rounds: 6, Out: os.Stdout})
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

// Config is what [NewService] needs.
type Config struct {
	// KeyURL is a credkit URL for the OpenAI key: file:///run/secrets/openai,
	// env://OPENAI_API_KEY, or a secret manager's.
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
	// Policy, when set, replaces the default degrade options.
	Policy []degrade.PolicyOption
}

// Models the service uses.
const (
	ChatModel      = openai.ChatModelGPT4oMini
	EmbeddingModel = openai.EmbeddingModelTextEmbedding3Small
)

// Service is the wiring: the key, the policy, the SDK client, health.
type Service struct {
	Set     *rotate.Set
	Key     *rotate.Credential
	Policy  *degrade.Policy
	Client  openai.Client
	Monitor *health.Monitor
	Logger  *slog.Logger
	// Mux serves POST /v1/chat, POST /v1/embed, /livez and /readyz.
	Mux   *http.ServeMux
	close []func()
}

// NewService opens the key and wires the client, the logger, health and
// the handlers.
func NewService(ctx context.Context, cfg Config) (*Service, error) {
	s := &Service{}
	r := redact.New()
	s.Logger = slog.New(redact.NewHandler(slog.NewJSONHandler(cfg.LogOut, nil), r))
	res := cfg.Resolver
	if res == nil {
		res = provider.NewURLMux()
	}
	cfgs := []rotate.Config{{Name: "openai", URL: cfg.KeyURL, Metadata: credential.Metadata{
		Owner: "assistant-team@example.com", Purpose: "chat and embeddings for the assistant",
		System: "api.openai.com", Scopes: []string{"model.request"}, RotationPeriod: 90 * 24 * time.Hour}}}
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
	if s.Key, err = set.Credential("openai"); err != nil {
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

	// One *http.Client for the provider: degrade outside, the key inside,
	// the SDK's own retries off so that one loop owns the attempts.
	opts := append([]degrade.PolicyOption{degrade.WithRefresher(s.Key), degrade.WithLogger(s.Logger)}, cfg.Policy...)
	s.Policy = degrade.NewPolicy("openai", opts...)
	hc := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: s.Key}, s.Policy)}
	clientOpts := []option.RequestOption{option.WithHTTPClient(hc), option.WithMaxRetries(0)}
	if cfg.BaseURL != "" {
		clientOpts = append(clientOpts, option.WithBaseURL(cfg.BaseURL))
	}
	s.Client = openai.NewClient(clientOpts...)

	// Health from the credential's status and the policy's live traffic:
	// OpenAI is shared by every replica, so its breaker warns, never fails
	// /readyz.
	checks := append(health.SetChecks(set, health.CredentialOptions{}), s.Policy.Checks(degrade.Shared)...)
	s.Monitor = health.NewMonitor(checks, health.WithSanitizer(r.String))
	s.close = append(s.close, func() { s.Monitor.Close() })
	h := health.NewHandler(s.Monitor, health.WithToken(token))

	s.Mux = http.NewServeMux()
	s.Mux.Handle("/livez", h)
	s.Mux.Handle("/readyz", h)
	s.Mux.Handle("/readyz/", h)
	s.Mux.HandleFunc("POST /v1/chat", s.chat)
	s.Mux.HandleFunc("POST /v1/embed", s.embed)
	return s, nil
}

// Close stops the monitor and the Set.
func (s *Service) Close() {
	for i := len(s.close) - 1; i >= 0; i-- {
		s.close[i]()
	}
}

// chat answers {"prompt": "...", "stream": bool}: JSON {"answer": "..."},
// or the answer's text streamed as it comes.
func (s *Service) chat(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Prompt string `json:"prompt"`
		Stream bool   `json:"stream"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.Prompt == "" {
		http.Error(w, `want {"prompt": "...", "stream": false}`, http.StatusBadRequest)
		return
	}
	params := openai.ChatCompletionNewParams{
		Model: ChatModel,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are a terse assistant."),
			openai.UserMessage(in.Prompt),
		},
	}
	start := time.Now()
	if !in.Stream {
		resp, err := s.Client.Chat.Completions.New(r.Context(), params)
		if err != nil {
			s.fail(w, "chat", err)
			return
		}
		s.Logger.Info("chat", "model", resp.Model, "tokens", resp.Usage.TotalTokens, "ms", time.Since(start).Milliseconds())
		writeJSON(w, map[string]any{"answer": resp.Choices[0].Message.Content})
		return
	}
	stream := s.Client.Chat.Completions.NewStreaming(r.Context(), params)
	defer stream.Close()
	chunks := 0
	for stream.Next() {
		if chunks == 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		chunks++
		if c := stream.Current(); len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			io.WriteString(w, c.Choices[0].Delta.Content)
			http.NewResponseController(w).Flush()
		}
	}
	if err := stream.Err(); err != nil {
		if chunks == 0 {
			s.fail(w, "chat stream", err)
			return
		}
		// The status is sent: say so in the body, and in the log.
		s.Logger.Error("chat stream broke", "chunks", chunks, "err", err)
		io.WriteString(w, "\n[stream interrupted]")
		return
	}
	s.Logger.Info("chat stream", "chunks", chunks, "ms", time.Since(start).Milliseconds())
}

// embed answers {"texts": ["...", ...]} with the vectors' count and size.
func (s *Service) embed(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Texts []string `json:"texts"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || len(in.Texts) == 0 {
		http.Error(w, `want {"texts": ["..."]}`, http.StatusBadRequest)
		return
	}
	resp, err := s.Client.Embeddings.New(r.Context(), openai.EmbeddingNewParams{
		Model: EmbeddingModel,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: in.Texts},
	})
	if err != nil {
		s.fail(w, "embed", err)
		return
	}
	dims := 0
	if len(resp.Data) > 0 {
		dims = len(resp.Data[0].Embedding)
	}
	s.Logger.Info("embed", "model", resp.Model, "inputs", len(in.Texts), "dimensions", dims)
	writeJSON(w, map[string]any{"model": resp.Model, "vectors": len(resp.Data), "dimensions": dims})
}

// fail logs err (through the redacting handler) and answers with what it
// means for the caller, never with its text.
func (s *Service) fail(w http.ResponseWriter, what string, err error) {
	attrs := []any{"err", err}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		// What the API said, for whoever reads the log. Some gateways
		// repeat the key they were given here: the redacting handler
		// removes it.
		attrs = append(attrs, "status", apiErr.StatusCode, "code", apiErr.Code, "api_message", apiErr.Message)
		if apiErr.Response != nil {
			attrs = append(attrs, "request_id", apiErr.Response.Header.Get("X-Request-Id"))
		}
	}
	s.Logger.Error(what+" failed", attrs...)
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, degrade.ErrCircuitOpen), errors.Is(err, degrade.ErrRateLimited):
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
