// Command kubernetes is the service of this folder's Deployment: an HTTP
// API that calls a model API with an API key mounted from a Secret volume,
// and OpenAI with a token obtained by exchanging the pod's projected
// service-account token (workload identity federation), with /livez and
// /readyz for the kubelet's probes. Both credentials follow the kubelet's
// updates of their volumes without a restart.
//
// In the cluster (deployment.yaml sets these):
//
//	LISTEN_ADDR=:8080
//	MODEL_API_KEY_URL=file:///etc/credkit/model?allow_group_readable=true#api-key
//	MODEL_API_URL=https://api.model.example
//	OPENAI_FEDERATION_URL='oauth2://auth.openai.com/oauth/token?grant=token_exchange&preset=openai&subject=file:///var/run/secrets/tokens/openai-token&param.identity_provider_id=idp_…&param.service_account_id=svc_…'
//	OPENAI_API_URL=https://api.openai.com
//	HEALTH_TOKEN_URL=file:///etc/credkit/health?allow_group_readable=true#token
//
// Offline (no LISTEN_ADDR) it runs the service against in-process fakes
// while replaying the kubelet's volume updates, and prints the figures:
//
//	go run .
package main

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/credkit/credkit/provider"
)

func main() {
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if addr := os.Getenv("LISTEN_ADDR"); addr != "" {
		err = serve(ctx, addr)
	} else {
		var st Stats
		st, err = Demo(ctx, DemoConfig{Workers: 8, Swaps: 5, Mode: demoMode, KeyURLQuery: demoKeyQuery, Out: os.Stdout})
		if err == nil {
			err = st.Check()
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

// serve runs the service on addr until ctx ends, then drains for up to
// 10 s (the Deployment's terminationGracePeriodSeconds is longer).
func serve(ctx context.Context, addr string) error {
	cfg, err := configFromEnv(ctx, os.Getenv)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	svc, err := NewService(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	srv := &http.Server{Addr: addr, Handler: svc.Handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// configFromEnv reads the Config from the Deployment's environment, and
// the health token from HEALTH_TOKEN_URL (once, at start).
func configFromEnv(ctx context.Context, getenv func(string) string) (Config, error) {
	cfg := Config{
		APIKeyURL:         getenv("MODEL_API_KEY_URL"),
		ModelAPI:          getenv("MODEL_API_URL"),
		FederatedTokenURL: getenv("OPENAI_FEDERATION_URL"),
		OpenAIAPI:         getenv("OPENAI_API_URL"),
	}
	if cfg.APIKeyURL == "" || cfg.ModelAPI == "" || cfg.FederatedTokenURL == "" || cfg.OpenAIAPI == "" {
		return cfg, errors.New("set MODEL_API_KEY_URL, MODEL_API_URL, OPENAI_FEDERATION_URL and OPENAI_API_URL (see deployment.yaml)")
	}
	if u := getenv("HEALTH_TOKEN_URL"); u != "" {
		p, ref, err := provider.NewURLMux().Resolve(ctx, u)
		if err != nil {
			return cfg, err
		}
		v, err := p.Fetch(ctx, ref)
		if err != nil {
			return cfg, err
		}
		cfg.HealthToken = v.Secret.Reveal()
	}
	return cfg, nil
}
