package degrade

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateLimit is what a response says of the caller's remaining budget with
// the provider, read from its rate-limit headers by [ParseRateLimit].
type RateLimit struct {
	// Remaining is the smallest remaining count among the limits the
	// response reports (requests, tokens, input and output tokens); -1 when
	// no limit is known.
	Remaining int64
	// Reset is when the limit Remaining belongs to refills; zero when
	// unknown.
	Reset time.Time
}

// Exhausted reports whether a limit is known to be spent until Reset.
func (r RateLimit) Exhausted(now time.Time) bool {
	return r.Remaining == 0 && r.Reset.After(now)
}

// The limits each provider reports, as header name prefixes and suffixes.
var (
	openAILimits    = [...]string{"requests", "tokens"}
	anthropicLimits = [...]string{"requests", "tokens", "input-tokens", "output-tokens"}
)

// ParseRateLimit reads a response's rate-limit headers:
//   - OpenAI (and Azure OpenAI): x-ratelimit-remaining-requests and -tokens,
//     with x-ratelimit-reset-requests and -tokens as durations ("1s",
//     "6m0s", "20ms") or seconds;
//   - Anthropic: anthropic-ratelimit-{requests,tokens,input-tokens,
//     output-tokens}-remaining with -reset as RFC 3339 times.
//
// A negative value is unknown, and so is 0 from Azure (a response with an
// x-ms-region, apim-request-id or x-ms-client-request-id header: Azure
// reports -1 or 0 where it does not track the limit) or 0 without a reset
// time. The result is the smallest known remaining count, with its reset.
func ParseRateLimit(h http.Header, now time.Time) RateLimit {
	rl := RateLimit{Remaining: -1}
	azure := h.Get("X-Ms-Region") != "" || h.Get("Apim-Request-Id") != "" || h.Get("X-Ms-Client-Request-Id") != ""
	consider := func(rem string, reset time.Time) {
		n, err := strconv.ParseInt(strings.TrimSpace(rem), 10, 64)
		if err != nil || n < 0 || (n == 0 && (azure || reset.IsZero())) {
			return
		}
		if rl.Remaining < 0 || n < rl.Remaining || (n == rl.Remaining && reset.After(rl.Reset)) {
			rl.Remaining, rl.Reset = n, reset
		}
	}
	for _, l := range openAILimits {
		if rem := h.Get("X-Ratelimit-Remaining-" + l); rem != "" {
			consider(rem, resetDuration(h.Get("X-Ratelimit-Reset-"+l), now))
		}
	}
	for _, l := range anthropicLimits {
		if rem := h.Get("Anthropic-Ratelimit-" + l + "-Remaining"); rem != "" {
			var reset time.Time
			if t, err := time.Parse(time.RFC3339, strings.TrimSpace(h.Get("Anthropic-Ratelimit-"+l+"-Reset"))); err == nil {
				reset = t
			}
			consider(rem, reset)
		}
	}
	return rl
}

// resetDuration reads OpenAI's reset header: a Go-style duration or seconds.
func resetDuration(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(d)
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return now.Add(time.Duration(s * float64(time.Second)))
	}
	return time.Time{}
}
