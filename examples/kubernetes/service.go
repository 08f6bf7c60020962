package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/oauth2"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

// Config is what the service needs; in the cluster every field comes from
// the Deployment's environment (see deployment.yaml).
type Config struct {
	// APIKeyURL is the model API key: a key of the mounted Secret volume,
	// file:///etc/credkit/model#api-key.
	APIKeyURL string
	// ModelAPI is the base URL of the model API called with the key
	// (POST ModelAPI/v1/chat/completions).
	ModelAPI string
	// FederatedTokenURL is an oauth2:// URL whose subject is the projected
	// service-account token, file:///var/run/secrets/tokens/openai-token:
	// the OpenAI workload identity federation exchange.
	FederatedTokenURL string
	// OpenAIAPI is the base URL of the API called with the exchanged token
	// (POST OpenAIAPI/v1/embeddings).
	OpenAIAPI string
	// HealthToken is the bearer token that shows /readyz detail; probes
	// from the kubelet get the bare status.
	HealthToken string
	// Logger is where the service logs (through a redacting handler).
	Logger *slog.Logger
	// Clock, Client and Options are for tests: the clock of the rotate set
	// and of the health judgements, the HTTP client of upstream calls and
	// token exchanges, and extra rotate options.
	Clock   credential.Clock
	Client  *http.Client
	Options []rotate.Option
	// CheckInterval is how often the credential checks read the set's
	// status (30 s when zero).
	CheckInterval time.Duration
}

// Service is the running service: an HTTP API that answers with the model
// API and OpenAI, and the health endpoints.
type Service struct {
	Set     *rotate.Set
	Monitor *health.Monitor
	Handler http.Handler

	redactor *redact.Redactor
	untrack  func()
}

// pollInterval is how often rotate checks the credentials without being
// told. The key file is pushed (fsnotify sees the kubelet's swap), so the
// poll is only a fallback; and rotate checks a provider that has no cheap
// version check, such as the token exchange, by fetching: at rotate's
// default of one minute that is one token exchange a minute. At 15 minutes
// the exchanged token (an hour) is renewed at rotate's refresh-ahead point
// (80% of its life) or at the first poll after the projected token changed,
// and at once on a 401.
const pollInterval = 15 * time.Minute

// Credential names in the set.
const (
	apiKeyName    = "model-api-key"
	federatedName = "openai-federated"
)

// NewService opens the credentials and builds the handler:
//
//	POST /v1/chat      → ModelAPI/v1/chat/completions with the API key
//	POST /v1/embed     → OpenAIAPI/v1/embeddings with the exchanged token
//	GET  /livez        → 200 while the process serves
//	GET  /readyz       → 200 while every credential is usable (detail with HealthToken)
func NewService(ctx context.Context, c Config) (*Service, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second}
	}
	r := redact.New()
	logger := slog.New(redact.NewHandler(c.Logger.Handler(), r))
	mux := provider.NewURLMux()
	if err := mux.Register("oauth2", oauth2.NewOpener(mux, oauth2.WithProviderOptions(
		oauth2.WithClock(credential.ClockOrSystem(c.Clock)), oauth2.WithHTTPClient(c.Client)))); err != nil {
		return nil, err
	}
	opts := append([]rotate.Option{rotate.WithLogger(logger), rotate.WithClock(credential.ClockOrSystem(c.Clock)),
		rotate.WithInterval(pollInterval, 0.1)}, c.Options...)
	set, err := rotate.Open(ctx, mux, []rotate.Config{
		{Name: apiKeyName, URL: c.APIKeyURL, Metadata: credential.Metadata{
			Owner: "ml-platform@example.com", Purpose: "chat completions", System: "model-api", RotationPeriod: 90 * 24 * time.Hour}},
		{Name: federatedName, URL: c.FederatedTokenURL, Metadata: credential.Metadata{
			Owner: "ml-platform@example.com", Purpose: "embeddings (workload identity federation)", System: "openai"}},
	}, opts...)
	if err != nil {
		return nil, err
	}
	s := &Service{Set: set, redactor: r, untrack: r.Track(set)}
	key, _ := set.Credential(apiKeyName)
	fed, _ := set.Credential(federatedName)
	if key == nil || fed == nil {
		set.Close()
		return nil, errors.New("kubernetes example: credentials missing from the set")
	}
	// One check per credential, from the set's status and inventory (no
	// backend call).
	s.Monitor = health.NewMonitor(health.SetChecks(set, health.CredentialOptions{
		Interval: c.CheckInterval, Clock: c.Clock,
		// The exchanged token lives an hour: warn only in its last minutes.
		ExpiryWindow: 5 * time.Minute,
	}), health.WithSanitizer(r.String), health.WithLogger(logger))
	hh := health.NewHandler(s.Monitor, health.WithToken(c.HealthToken), health.WithServiceID("rag-api"))

	modelClient := &http.Client{Timeout: c.Client.Timeout, Transport: &credential.Transport{Credential: key, Base: c.Client.Transport}}
	openaiClient := &http.Client{Timeout: c.Client.Timeout, Transport: &credential.Transport{Credential: fed, Base: c.Client.Transport}}
	m := http.NewServeMux()
	m.Handle("GET /livez", hh)
	m.Handle("GET /readyz", hh)
	m.Handle("GET /readyz/", hh)
	m.Handle("POST /v1/chat", proxy(modelClient, c.ModelAPI+"/v1/chat/completions", logger))
	m.Handle("POST /v1/embed", proxy(openaiClient, c.OpenAIAPI+"/v1/embeddings", logger))
	s.Handler = m
	return s, nil
}

// Close stops the monitor and the set.
func (s *Service) Close() {
	s.Monitor.Close()
	s.untrack()
	s.Set.Close()
}

// proxy forwards the request body to upstream with client (whose
// Transport adds the credential) and relays the answer. An upstream
// failure is a 502 whose body names no credential.
func proxy(client *http.Client, upstream string, logger *slog.Logger) http.Handler {
	u, err := url.Parse(upstream)
	if err != nil {
		panic("kubernetes example: bad upstream URL") // a configuration error at start
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, u.String(), strings.NewReader(string(body)))
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			logger.Warn("upstream call failed", "upstream", u.Host, "error_kind", credential.KindName(err))
			writeErr(w, http.StatusBadGateway, "upstream unavailable")
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			logger.Warn("upstream refused", "upstream", u.Host, "status", resp.StatusCode)
			writeErr(w, http.StatusBadGateway, "upstream answered "+resp.Status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
	})
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
