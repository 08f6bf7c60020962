// Package degrade keeps the AI features of a service working, or failing
// loudly, when a language model, an embedding service or a vector database
// fails or rejects its credential. This package is the policy core:
// classification, the retry loop and circuit breaker ([Policy]), the
// [RoundTripper] that applies them to an SDK's *http.Client, and the
// errors. One sub-package per further concern, each with its own options:
//
//   - keypool: several keys for one provider, steered by 429s, 401s and the
//     provider's rate-limit headers;
//   - queue: requests that wait for a dependency to recover, at least once;
//   - fallback: a fallback chain, a stale-if-error cache and an embeddings
//     cache over the caller's own request and response types.
//
// # Classification
//
// Every outcome is first turned into a [Class] by [ClassifyResponse] (HTTP)
// or [ClassifyError] (errors): Retryable (429, 408, 409, 5xx including
// Anthropic's 529, network failures), Rejected (401, 403), Quota (a 429 or
// 403 whose body says the account is out of quota or credit), Permanent
// (other 4xx, and an error raised before anything was sent) and Canceled.
// x-should-retry is honoured; Retry-After (seconds or HTTP date),
// retry-after-ms and, on a 429, the reset of the spent limit
// ([ParseRateLimit]) give the wait the server asked for.
//
// The API errors of openai-go v3 and anthropic-sdk-go v2 are classified as
// they are, with no code of yours and no dependency on either SDK: they
// carry the HTTP response, which [ClassifyError] reads through their
// DumpResponse method. Inside a policy's attempt, a [RoundTripper] in the
// SDK's client reports what it saw directly, so even an error the SDK
// wrapped beyond recognition is classified from its response. An error the
// SDK raises before sending (anthropic-sdk-go's "no Anthropic credentials
// found" without option.WithoutEnvironmentDefaults()) is Permanent: never
// retried, never counted against the breaker.
//
// # Retry and circuit breaker
//
// A [Policy] owns the attempts to one dependency: exponential backoff with
// full jitter, a cap, a maximum number of attempts and of total time, the
// server's Retry-After up to a ceiling (60 s by default; longer fails fast
// with [ErrRateLimited] so a fallback, a queue or another key can take
// over), never past the caller's deadline, never retrying Permanent or Quota
// failures. On Rejected it asks the credential to refresh
// ([WithRefresher]) and retries once only if the value changed. Its
// [Breaker] opens on a failure rate over a sliding window with a minimum
// volume, fails fast with [ErrCircuitOpen], and probes when half-open. Use
// [Policy.Do] or [Call].
//
// SDKs retry on their own (openai-go and anthropic-sdk-go twice by
// default): set option.WithMaxRetries(0) so that one loop owns the attempts.
//
// # Stacking: attempts never multiply
//
// The context a policy gives its function carries the call. A
// [RoundTripper], [Policy.Do] or [Call] that finds it there makes exactly
// one attempt and leaves the retrying to the outermost policy. So a wrapper
// whose function calls an SDK whose client has a RoundTripper, two
// RoundTrippers stacked, a fallback link or cache with its own policy, or a
// queue item, make at most the outermost policy's attempts. [Inside] tells
// a retry loop of yours to do the same.
//
// # Transport and streaming
//
// [RoundTripper] applies a policy to every request of an *http.Client,
// replaying bodies with GetBody. Put it outside credential.Transport (or a
// keypool.Transport):
//
//	http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, policy)}
//
// A streamed response (text/event-stream) is retried only before its first
// byte; after it, a failure belongs to the caller. A stream keeps working
// across a key rotation: the key was used for the request, the next request
// gets the new one.
//
// # Markers
//
// The answers of the fallback package and of queue links carry a [Marker]
// (fresh, cached, stale, fallback, queued) in a [Result].
//
// # Health from live traffic
//
// [Policy] and [Breaker] implement health.Reporter, and [Policy.Checks]
// returns ready-made health.Check values for a health.Monitor. A model
// provider every replica shares is [Shared]: its open breaker warns and
// does not fail /readyz (an overloaded provider would otherwise take every
// replica out of the load balancer at once). Mark [Critical] what a replica
// cannot serve without and whose failure is its own.
//
// # Errors
//
// Every error matches one of [ErrCircuitOpen], [ErrCredentialRejected],
// [ErrQuotaExhausted], [ErrRateLimited], [ErrRetriesExhausted],
// [ErrPermanent] (or a sub-package's sentinel) and through them a
// credential sentinel, or is a context error; an [*Error] carries the
// dependency, the attempts, the Retry-After and the last failure. No error
// or log line holds a secret value.
//
// # Options
//
// Each constructor has its own option type ([PolicyOption] here,
// keypool.Option, queue.Option, fallback.ChainOption …), so an option given
// to the wrong constructor does not compile. Every package has a WithClock
// (default credential.SystemClock) and a WithLogger (default: nowhere) of
// the same shape, so tests run backoff, breaker windows, queue deadlines,
// TTLs and cool-downs on a fake clock.
package degrade
