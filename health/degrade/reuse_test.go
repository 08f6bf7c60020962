package degrade_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

type ctxKey struct{}

// The success path of Do and Call allocates nothing when the caller's
// context is one the policy has seen (before: one 32-byte call state per
// call).
func TestSuccessPathAllocatesNothing(t *testing.T) {
	p := degrade.NewPolicy("llm", degrade.WithBreaker(0.5, 10, time.Minute))
	worker, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "worker"))
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"Background", context.Background()},
		{"TODO", context.TODO()},
		{"a worker's long-lived context", worker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			do := testing.AllocsPerRun(100, func() {
				if err := p.Do(tc.ctx, okCall); err != nil {
					t.Fatal(err)
				}
			})
			call := testing.AllocsPerRun(100, func() {
				if _, err := degrade.Call(tc.ctx, p, func(context.Context) (int, error) { return 1, nil }); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, do, "allocations per Policy.Do")
			assert.Zero(t, call, "allocations per Call")
		})
	}
}

// A function that panics does not leave its call's state held: the next
// calls still allocate nothing.
func TestPanicReleasesCallState(t *testing.T) {
	p := degrade.NewPolicy("llm")
	for i := 0; i < 10; i++ {
		assert.PanicsWithValue(t, "boom", func() {
			_ = p.Do(context.Background(), func(context.Context) error { panic("boom") })
		})
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = p.Do(context.Background(), okCall) }))
}

// A context kept after the call returns (a streamed body, a goroutine)
// keeps answering for its own parent — Done, Deadline, Err, Value — after
// later calls under the same policy with other contexts, and with the same
// one.
func TestRetainedContextKeepsItsParent(t *testing.T) {
	p := degrade.NewPolicy("llm")
	deadline := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), ctxKey{}, "a"), deadline)
	defer cancel()
	var kept, keptBg context.Context
	require.NoError(t, p.Do(parent, func(ctx context.Context) error { kept = ctx; return nil }))
	require.NoError(t, p.Do(context.Background(), func(ctx context.Context) error { keptBg = ctx; return nil }))

	for i := 0; i < 20; i++ {
		other, cancelOther := context.WithDeadline(context.WithValue(context.Background(), ctxKey{}, fmt.Sprint("b", i)),
			time.Now().Add(time.Minute))
		cancelOther() // a later call whose context has ended
		err := p.Do(other, func(context.Context) error { return nil })
		assert.ErrorIs(t, err, context.Canceled)
		other, cancelOther = context.WithTimeout(context.WithValue(context.Background(), ctxKey{}, fmt.Sprint("c", i)), time.Minute)
		require.NoError(t, p.Do(other, func(ctx context.Context) error {
			assert.Equal(t, fmt.Sprint("c", i), ctx.Value(ctxKey{}))
			return nil
		}))
		cancelOther()
		require.NoError(t, p.Do(context.Background(), okCall))
		require.NoError(t, p.Do(parent, okCall))
	}

	assert.Equal(t, "a", kept.Value(ctxKey{}))
	dl, ok := kept.Deadline()
	assert.True(t, ok)
	assert.True(t, dl.Equal(deadline))
	assert.NoError(t, kept.Err())
	assert.True(t, kept.Done() == parent.Done(), "the kept context's Done is its parent's")

	assert.Nil(t, keptBg.Value(ctxKey{}))
	_, ok = keptBg.Deadline()
	assert.False(t, ok)
	assert.Nil(t, keptBg.Done())
	assert.NoError(t, keptBg.Err())

	cancel()
	<-kept.Done()
	assert.ErrorIs(t, kept.Err(), context.Canceled)
	assert.NoError(t, keptBg.Err())
}

// mapCtx is a context of a type that == cannot compare (it panics).
type mapCtx struct {
	context.Context
	m map[string]int
}

// anyCtx is a comparable type that == still panics on when its field holds
// a map.
type anyCtx struct {
	context.Context
	v any
}

// Contexts that == would panic on are never kept for reuse, and calls with
// them, in a row, mixed with reusable ones and concurrently, never panic.
func TestNonComparableContexts(t *testing.T) {
	p := degrade.NewPolicy("llm")
	worker, cancel := context.WithCancel(context.Background())
	defer cancel()
	value := context.WithValue(context.Background(), ctxKey{}, "v")
	ctxs := []context.Context{
		mapCtx{value, map[string]int{"a": 1}},
		mapCtx{value, map[string]int{"b": 2}},
		anyCtx{value, map[string]int{"a": 1}},
		anyCtx{value, map[string]int{"b": 2}},
		anyCtx{context.Background(), map[string]int{"c": 3}},
		context.Background(),
		worker,
		context.WithoutCancel(mapCtx{value, map[string]int{}}), // a struct holding one
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				ctx := ctxs[(g+i)%len(ctxs)]
				assert.NotPanics(t, func() {
					err := p.Do(ctx, func(actx context.Context) error {
						assert.Equal(t, ctx.Value(ctxKey{}), actx.Value(ctxKey{}))
						return nil
					})
					assert.NoError(t, err)
					_, err = degrade.Call(ctx, p, func(context.Context) (int, error) { return 1, nil })
					assert.NoError(t, err)
				})
			}
		}()
	}
	wg.Wait()
	// In a row, the same context twice: the second call would compare it
	// with itself if the first had kept it.
	for _, ctx := range ctxs {
		assert.NotPanics(t, func() {
			assert.NoError(t, p.Do(ctx, okCall))
			assert.NoError(t, p.Do(ctx, okCall))
		})
	}
}

// wantErr is an error an inner layer classifies as out.
type wantErr struct{ out degrade.Outcome }

func (e wantErr) Error() string { return "inner failure " + e.out.Class.String() }

func classifyWant(err error) degrade.Outcome {
	var w wantErr
	if errors.As(err, &w) {
		return w.out
	}
	return degrade.ClassifyError(err)
}

// statusStub answers each request with the status and Retry-After-Ms its
// X-Status and X-Retry-After-Ms headers ask for, and counts the requests of
// each call (X-Call).
type statusStub struct{ calls []atomic.Int32 }

func (s *statusStub) RoundTrip(r *http.Request) (*http.Response, error) {
	id, _ := strconv.Atoi(r.Header.Get("X-Call"))
	s.calls[id].Add(1)
	code, _ := strconv.Atoi(r.Header.Get("X-Status"))
	h := http.Header{}
	if ra := r.Header.Get("X-Retry-After-Ms"); ra != "" {
		h.Set("Retry-After-Ms", ra)
	}
	return &http.Response{StatusCode: code, Header: h, Body: http.NoBody, Request: r}, nil
}

// Concurrent calls, sharing one context or each with its own, each see
// only what their own inner layer (a nested Policy.Do, a RoundTripper in
// the SDK's client) reported: the class and the Retry-After of every call's
// error, and its number of attempts, are its own, and every attempt of the
// outer policy is one attempt of the inner layer.
func TestConcurrentCallsKeepTheirOwnOutcome(t *testing.T) {
	const goroutines, calls, attempts = 8, 40, 3
	shared, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "shared"))
	defer cancel()
	perGoroutine := make([]context.Context, goroutines)
	for g := range perGoroutine {
		perGoroutine[g] = context.WithValue(context.Background(), ctxKey{}, g)
	}
	contexts := map[string]func(g, i int) context.Context{
		"Background":          func(int, int) context.Context { return context.Background() },
		"one shared context":  func(int, int) context.Context { return shared },
		"one per goroutine":   func(g, _ int) context.Context { return perGoroutine[g] },
		"one per call":        func(g, i int) context.Context { return context.WithValue(context.Background(), ctxKey{}, g*calls+i) },
		"Background or other": func(g, i int) context.Context { return []context.Context{context.Background(), shared}[(g+i)%2] },
	}
	for _, layer := range []string{"Policy.Do", "RoundTripper"} {
		for name, ctxOf := range contexts {
			t.Run(layer+"/"+name, func(t *testing.T) {
				outer := policyN("outer", attempts)
				inner := policyN("inner", 4, degrade.WithClassifier(classifyWant))
				stub := &statusStub{calls: make([]atomic.Int32, goroutines*calls)}
				client := &http.Client{Transport: degrade.NewRoundTripper(stub, policyN("http", 4))}
				var wg sync.WaitGroup
				for g := 0; g < goroutines; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < calls; i++ {
							id := g*calls + i
							kind := (g + i) % 4
							// Distinct per call: a report crossing calls shows.
							ra := time.Duration(id+1) * time.Microsecond
							ms := strconv.FormatFloat(float64(ra)/float64(time.Millisecond), 'f', -1, 64)
							if layer == "RoundTripper" {
								f, _ := strconv.ParseFloat(ms, 64)
								ra = time.Duration(f * float64(time.Millisecond))
							}
							n := 0
							err := outer.Do(ctxOf(g, i), func(ctx context.Context) error {
								n++
								var err error
								if layer == "Policy.Do" {
									err = inner.Do(ctx, func(context.Context) error {
										stub.calls[id].Add(1)
										switch kind {
										case 0:
											return wantErr{degrade.Outcome{Class: degrade.Retryable, RetryAfter: ra}}
										case 1:
											return wantErr{degrade.Outcome{Class: degrade.Quota}}
										}
										return nil
									})
								} else {
									req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.invalid/", nil)
									req.Header.Set("X-Call", strconv.Itoa(id))
									switch kind {
									case 0:
										req.Header.Set("X-Status", "503")
										req.Header.Set("X-Retry-After-Ms", ms)
									case 1:
										req.Header.Set("X-Status", "401")
									default:
										req.Header.Set("X-Status", "200")
									}
									var resp *http.Response
									if resp, err = client.Do(req); err == nil {
										resp.Body.Close()
										if resp.StatusCode >= 400 {
											err = fmt.Errorf("status %d", resp.StatusCode)
										}
									}
								}
								if err != nil || kind == 2 {
									// An error degrade cannot classify (Permanent by
									// itself): only the inner layer's report says more.
									return errors.New("the model failed")
								}
								return nil
							})
							var de *degrade.Error
							switch kind {
							case 0:
								if assert.ErrorAs(t, err, &de, "call %d", id) {
									assert.Equal(t, degrade.ErrRetriesExhausted, de.Kind, "call %d", id)
									assert.Equal(t, ra, de.RetryAfter, "call %d: its own Retry-After", id)
								}
								assert.Equal(t, attempts, n, "call %d", id)
							case 1:
								want := degrade.ErrQuotaExhausted
								if layer == "RoundTripper" {
									want = degrade.ErrCredentialRejected
								}
								if assert.ErrorAs(t, err, &de, "call %d", id) {
									assert.Equal(t, want, de.Kind, "call %d", id)
								}
								assert.Equal(t, 1, n, "call %d", id)
							case 2:
								if assert.ErrorAs(t, err, &de, "call %d", id) {
									assert.Equal(t, degrade.ErrPermanent, de.Kind, "call %d: nothing reported", id)
								}
								assert.Equal(t, 1, n, "call %d", id)
							default:
								assert.NoError(t, err, "call %d", id)
								assert.Equal(t, 1, n, "call %d", id)
							}
							assert.Equal(t, int32(n), stub.calls[id].Load(), "call %d: one inner attempt per outer attempt", id)
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}

// An inner layer that started during one call and reports after it
// returned does not reach a later call that reuses the same state: the
// later call classifies its own failures.
func TestLateReportDoesNotReachLaterCall(t *testing.T) {
	outer := policyN("outer", 3)
	inner := policyN("inner", 1, degrade.WithClassifier(classifyWant))
	started, release, reported := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var first, second context.Context
	require.NoError(t, outer.Do(context.Background(), func(ctx context.Context) error {
		first = ctx
		go func() {
			defer close(reported)
			_ = inner.Do(ctx, func(context.Context) error {
				close(started)
				<-release
				return wantErr{degrade.Outcome{Class: degrade.Quota}}
			})
		}()
		<-started
		return nil // returns while the inner layer still runs
	}))
	n := 0
	err := outer.Do(context.Background(), func(ctx context.Context) error {
		second = ctx
		n++
		if n == 1 {
			close(release)
			<-reported // the first call's inner layer has reported now
		}
		return fmt.Errorf("overloaded: %w", credential.ErrUnavailable)
	})
	require.True(t, first == second, "the second call reuses the first one's state (else this test proves nothing)")
	assert.ErrorIs(t, err, degrade.ErrRetriesExhausted, "not the first call's quota failure")
	assert.Equal(t, 3, n)
}
