// Package degrade keeps the AI features of a service working, or failing
// loudly, when a language model, an embedding service or a vector database
// fails or rejects its credential: retry with backoff, circuit breaking,
// queueing, cached fallbacks, key pools, and health learned from live
// traffic.
//
// # Classification
//
// Every outcome is first turned into a [Class] by [ClassifyResponse] (HTTP)
// or [ClassifyError] (errors, including a [*StatusError] a wrapper's backend
// returns): Retryable (429, 408, 409, 5xx including Anthropic's 529,
// timeouts, connection resets), Rejected (401, 403), Quota (a 429 or 403
// whose body says the account is out of quota or credit, such as OpenAI's
// insufficient_quota), Permanent (other 4xx) and Canceled. x-should-retry is
// honoured; Retry-After (seconds or HTTP date), retry-after-ms and
// x-ratelimit-reset-* give the wait the server asked for.
//
// # Retry and circuit breaker
//
// A [Policy] owns the attempts to one dependency: exponential backoff with
// full jitter, a cap, a maximum number of attempts and of total time, the
// server's Retry-After up to a ceiling (60 s by default; longer fails fast
// with [ErrRateLimited] so a fallback, a queue or another key can take
// over), never past the caller's deadline, never retrying Permanent or Quota
// failures. On Rejected it asks the credential to refresh
// ([WithRefresher]) and retries once only if the value changed; otherwise
// it fails with [ErrCredentialRejected]. Its [Breaker] opens on a failure
// rate over a sliding window with a minimum volume, fails fast with
// [ErrCircuitOpen], and probes when half-open. Use [Policy.Do] or [Call].
//
// SDKs retry on their own (openai-go and anthropic-sdk-go twice by
// default): set option.WithMaxRetries(0) so that one loop owns the attempts.
//
// # Transport and key pool
//
// [RoundTripper] applies a policy to every request of an *http.Client,
// replaying bodies with GetBody. Put it outside credential.Transport:
//
//	http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, policy)}
//
// A [Pool] is a credential of several keys for one provider. With
// [WithPool] the RoundTripper picks a key per request (round robin or
// [WithWeights]), skips a key after a 429 until its Retry-After has passed,
// quarantines a key after a 401, 403 or quota error across requests (after
// asking it to refresh), and reports each key's state ([Pool.Keys],
// [Pool.KeyCheck]).
//
// # Queue
//
// A [Queue] holds requests while a dependency is down or rate limited:
// bounded ([ErrQueueFull] at once), FIFO, a deadline per item, drained by
// workers at a rate ([WithRate]) that respects the waits the dependency
// reports. [Queue.Do] waits; [Queue.Submit] returns a [Handle] for batch
// jobs. [Queue.Drain] hands back what did not run. Items live in a [Store]
// ([NewMemoryStore] by default).
//
// # Cached fallbacks and typed wrappers
//
// [Embeddings] wraps an [Embedder] with a read-through LRU cache keyed by
// model and input hash, served when the service fails and never across
// models or dimensions. [Search] wraps a [Searcher] and serves the last
// good result of a query when the database fails. [Chat] wraps an ordered
// chain of [ChatModel]s ([Link]: another key, model or provider), with an
// optional exact-prompt cache and a [Queue]. Every answer is a [Result]
// carrying a [Marker] (fresh, cached, stale, fallback, queued); markers are
// counted and changes between fresh and degraded service are logged once.
//
// # Health from live traffic
//
// Outcomes feed health without synthetic probes. [Policy], [Breaker] and
// [Pool] implement health.Reporter: an open breaker, a rejected credential
// or an exhausted quota fail; a half-open breaker or a quarantined key of
// several warns. [Policy.Checks] and [Pool.Checks] return ready-made
// health.Check values for a health.Monitor ("openai:circuit",
// "openai:traffic", "openai:keys", and one "<key>:credential" per key).
// [Policy.Check], [Breaker.Check], [Pool.Check] and [Pool.KeyCheck] give the
// same answers as func(context.Context) error.
//
// Classification starts from health.ClassifyHTTP, shared with the health
// checks, and refines it for retrying.
//
// # Errors
//
// Every error matches one of [ErrCircuitOpen], [ErrQueueFull],
// [ErrCredentialRejected], [ErrQuotaExhausted], [ErrRateLimited],
// [ErrRetriesExhausted], [ErrPermanent], [ErrNoKey] (and through them a
// credential sentinel) or is a context error; an [*Error] carries the
// dependency, the attempts, the Retry-After and the last failure. No error
// or log line holds a secret value.
//
// Time comes from [WithClock] everywhere, so tests run backoff, breaker
// windows, queue deadlines, TTLs and cool-downs on a fake clock.
package degrade
