// Package credkit handles the credentials of AI applications: the API keys of
// model providers, the tokens of embedding services and vector databases,
// database passwords and webhook secrets.
//
// It loads them from where they live (cloud secret managers, Vault,
// environment variables, files), keeps them fresh when they are rotated, keeps
// them out of logs, tells the service's health endpoint how they are doing, and
// keeps AI features degrading gracefully when a dependency or a credential
// fails. This package holds only this overview; the code is in the packages
// below.
//
// # Tour
//
//   - [github.com/credkit/credkit/credential]: the vocabulary. [credential.Secret]
//     never prints its value; [credential.Credential] is what application code
//     holds; [credential.Provider] is what a backend implements;
//     [credential.Transport] injects the current key into every request of an
//     SDK client; the sentinel errors ([credential.ErrNotFound] ...) classify
//     every failure.
//   - [github.com/credkit/credkit/provider]: opens credential URLs
//     ("env://OPENAI_API_KEY", "file:///run/secrets/openai",
//     "aws-sm://prod/openai#api_key") with backends in sub-packages: env, file,
//     aws; providertest is the conformance suite every backend passes.
//   - [github.com/credkit/credkit/rotate]: keeps credentials current (polling,
//     push, refresh ahead of expiry, last good value during outages), and keeps
//     an inventory with rotation reminders and a kill switch.
//   - [github.com/credkit/credkit/redact]: a slog.Handler and io.Writer that
//     remove secret values from every log record.
//   - [github.com/credkit/credkit/health]: periodic checks and an HTTP handler
//     for liveness and readiness; health/degrade adds retry, circuit breaking,
//     queueing and cached fallbacks for LLM, embedding and vector-DB clients.
//
// # A first program
//
//	res := provider.NewURLMux()
//	p, ref, err := res.Resolve(ctx, "env://OPENAI_API_KEY")
//	if err != nil { ... }
//	v, err := p.Fetch(ctx, ref)
//	if err != nil { ... }
//	key := credential.NewStatic("openai", v.Secret, credential.Metadata{Owner: "ml-team"})
//	client := &http.Client{Transport: &credential.Transport{Credential: key}}
//	fmt.Println(v.Secret) // [REDACTED]
//
// examples/quickstart runs offline and shows the whole library at work.
package credkit
