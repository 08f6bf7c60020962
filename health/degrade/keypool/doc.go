// Package keypool spreads the requests to one provider over several keys
// (several API keys raise a rate limit) and keeps a failing key out of the
// way.
//
// A [Pool] is a credential.Credential of several keys. A [Transport] puts a
// key of the pool into each request and feeds each answer back: a key whose
// rate-limit headers (OpenAI's x-ratelimit-remaining-*, Anthropic's
// anthropic-ratelimit-*-remaining; Azure's -1 and 0 count as unknown) say
// its budget is spent cools until the reset, before it gets a 429; a 429
// cools the key for its Retry-After and the request moves to another key at
// once; a 401, 403 or quota error asks the key to refresh and quarantines
// it across requests if the value did not change. A key never goes into a
// redirect to another host.
//
// Put the Transport under a degrade.RoundTripper, which owns the retries:
//
//	pool, err := keypool.New("openai", []credential.Credential{keyA, keyB}, keypool.WithWeights(2, 1))
//	hc := &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(nil, pool, nil), policy)}
//
// [Pool.Keys] lists each key's state (never its value); [Pool.Checks],
// [Pool.Check] and [Pool.KeyCheck] report to health.
package keypool
