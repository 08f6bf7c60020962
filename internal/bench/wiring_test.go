package bench

import (
	"net/http"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

// The two wirings the READMEs show, compiled and run by the tests of this
// package against a fault server. Keep them in step with README.md and
// health/degrade/README.md.

// newOpenAI is the openai-go v3 wiring.
func newOpenAI(key credential.Credential, policy *degrade.Policy, baseURL string) openai.Client {
	hc := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, policy)}
	return openai.NewClient(
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0), // degrade owns the retries
		option.WithBaseURL(baseURL),
	)
}

// newAnthropic is the anthropic-sdk-go v2 wiring.
func newAnthropic(key credential.Credential, policy *degrade.Policy, baseURL string) anthropic.Client {
	hc := &http.Client{Transport: degrade.NewRoundTripper(
		&credential.Transport{Credential: key, Inject: credential.Header("X-Api-Key")}, policy)}
	return anthropic.NewClient(
		aoption.WithoutEnvironmentDefaults(), // the key lives in credkit, not in the environment
		aoption.WithHTTPClient(hc),
		aoption.WithMaxRetries(0), // degrade owns the retries
		aoption.WithBaseURL(baseURL),
	)
}
