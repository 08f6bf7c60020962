package degrade_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/keypool"
	"github.com/credkit/credkit/health/degrade/queue"
)

func TestErrorText(t *testing.T) {
	err := &degrade.Error{Dependency: "openai", Kind: degrade.ErrRateLimited, Attempts: 2, RetryAfter: 90 * time.Second,
		Err: &degrade.StatusError{StatusCode: 429, Body: "secret-looking body"}}
	assert.Equal(t, "degrade: openai: rate limited after 2 attempts (retry after 1m30s): status 429", err.Error())
	assert.True(t, errors.Is(err, degrade.ErrRateLimited))
	assert.True(t, errors.Is(err, credential.ErrUnavailable))
	assert.False(t, errors.Is(err, degrade.ErrCircuitOpen))
	assert.Equal(t, "unavailable", credential.KindName(err))
	assert.Equal(t, "degrade: queue full", (&degrade.Error{Kind: queue.ErrFull}).Error())

	for _, s := range []error{degrade.ErrCircuitOpen, queue.ErrFull, degrade.ErrCredentialRejected, degrade.ErrQuotaExhausted,
		degrade.ErrRateLimited, degrade.ErrRetriesExhausted, degrade.ErrPermanent, keypool.ErrNoKey} {
		assert.NotNil(t, credential.Kind(s), "%v matches a credential sentinel", s)
	}
}

// No error text and no log line holds a key, not even a prefix of one.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	var logs strings.Builder
	log := newTextLogger(&logs)
	fs := newFaultServer(t, step{Status: 401})
	clk := newClock()
	pool, err := keypool.New("openai", statics(keyOld, keyNew), keypool.WithClock(clk), keypool.WithLogger(log))
	require.NoError(t, err)
	p := degrade.NewPolicy("openai", degrade.WithClock(clk), degrade.WithLogger(log))
	c := &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(nil, pool, nil), p)}
	var texts []string
	for i := 0; i < 3; i++ {
		resp, err := get(t, c, fs.URL)
		if err != nil {
			texts = append(texts, err.Error())
		} else {
			texts = append(texts, resp.Status)
		}
	}
	texts = append(texts, p.Check(context.Background()).Error(), pool.Check(context.Background()).Error(),
		pool.KeyCheck("keya")(context.Background()).Error(), logs.String())
	for _, s := range texts {
		for _, k := range []string{keyOld, keyNew} {
			assert.False(t, strings.Contains(s, k[:12]) || strings.Contains(s, k[len(k)-12:]), "a key leaked into text")
		}
	}
	assert.Contains(t, logs.String(), "key quarantined")
}

func TestCustomClassifierAndCeiling(t *testing.T) {
	clk := newClock()
	errThrottled := errors.New("throttled by the vendor SDK")
	p := degrade.NewPolicy("vendor", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithoutBreaker(),
		degrade.WithRetryAfterCeiling(5*time.Second),
		degrade.WithClassifier(func(err error) degrade.Outcome {
			if errors.Is(err, errThrottled) {
				return degrade.Outcome{Class: degrade.Retryable, RetryAfter: 4 * time.Second}
			}
			return degrade.ClassifyError(err)
		}))
	calls := 0
	var err error
	elapsed := async(clk, func() { err = p.Do(context.Background(), failing(&calls, errThrottled)) })
	require.NoError(t, err)
	assert.Equal(t, 4*time.Second, elapsed)

	limited := &degrade.StatusError{StatusCode: 429, Header: http.Header{"Retry-After": {"6"}}}
	calls = 0
	err = p.Do(context.Background(), failing(&calls, limited))
	assert.ErrorIs(t, err, degrade.ErrRateLimited, "6 s is past the 5 s ceiling")
	assert.Equal(t, 1, calls)
}
