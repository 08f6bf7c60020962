package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// FakeAPI is an in-process stand-in for an OpenAI-style embeddings endpoint
// (POST /v1/embeddings, Bearer key), so the example runs offline. It
// accepts only the key it is told is current, and answers as the real API
// does to what the example must handle: 429 with Retry-After, 429
// insufficient_quota, 503 during an outage, 401 for a stale key.
//
// Scripted behaviour comes from the input text: "[rate-limited]" is
// answered 429 (Retry-After: 1) the first time, "[quota]" always 429
// insufficient_quota.
type FakeAPI struct {
	*httptest.Server

	mu        sync.Mutex
	key       string
	down      int            // the next down calls answer 503
	calls     map[string]int // successful embeddings per input
	seen      map[string]int // calls per input, any answer
	rejected  int            // 401s
	total     int
	onSuccess func(input string)
}

// NewFakeAPI starts the fake, accepting key.
func NewFakeAPI(key string) *FakeAPI {
	f := &FakeAPI{key: key, calls: map[string]int{}, seen: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// SetKey makes key the only one accepted, as a provider does the moment a
// key is rotated.
func (f *FakeAPI) SetKey(key string) {
	f.mu.Lock()
	f.key = key
	f.mu.Unlock()
}

// Outage makes the next n calls answer 503.
func (f *FakeAPI) Outage(n int) {
	f.mu.Lock()
	f.down = n
	f.mu.Unlock()
}

// OnSuccess sets a function called after each successful embedding.
func (f *FakeAPI) OnSuccess(fn func(input string)) {
	f.mu.Lock()
	f.onSuccess = fn
	f.mu.Unlock()
}

// Counts returns successful embeddings per input, calls per input, the
// number of 401s and the number of calls.
func (f *FakeAPI) Counts() (ok, seen map[string]int, rejected, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok, seen = map[string]int{}, map[string]int{}
	for k, v := range f.calls {
		ok[k] = v
	}
	for k, v := range f.seen {
		seen[k] = v
	}
	return ok, seen, f.rejected, f.total
}

func (f *FakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string `json:"model"`
		Input string `json:"input"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(body, &req)
	fail := func(code int, typ, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": typ, "code": typ, "message": msg}})
	}
	f.mu.Lock()
	f.total++
	f.seen[req.Input]++
	n := f.seen[req.Input]
	if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost {
		f.mu.Unlock()
		fail(http.StatusNotFound, "not_found", "unknown endpoint")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		f.rejected++
		f.mu.Unlock()
		fail(http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided.")
		return
	}
	if f.down > 0 {
		f.down--
		f.mu.Unlock()
		fail(http.StatusServiceUnavailable, "server_error", "The server is overloaded.")
		return
	}
	switch {
	case strings.Contains(req.Input, "[quota]"):
		f.mu.Unlock()
		fail(http.StatusTooManyRequests, "insufficient_quota", "You exceeded your current quota, please check your plan and billing details.")
		return
	case strings.Contains(req.Input, "[rate-limited]") && n == 1:
		f.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		fail(http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit reached for requests.")
		return
	}
	f.calls[req.Input]++
	onSuccess := f.onSuccess
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "model": req.Model,
		"data": []any{map[string]any{"object": "embedding", "index": 0, "embedding": vector(req.Input, 8)}},
	})
	if onSuccess != nil {
		onSuccess(req.Input)
	}
}

// vector is a deterministic unit vector for text.
func vector(text string, dim int) []float32 {
	sum := sha256.Sum256([]byte(text))
	v := make([]float32, dim)
	var norm float64
	for i := range v {
		x := float64(int16(binary.BigEndian.Uint16(sum[(2*i)%32:]))) / math.MaxInt16
		v[i] = float32(x)
		norm += x * x
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(norm))
	}
	return v
}
