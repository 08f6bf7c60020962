package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Answer is what the fake model says to every chat, streamed word by word.
const Answer = "Keys rotate under running streams and no request fails."

// FakeAPI is an in-process stand-in for the OpenAI API, so the example runs
// offline: POST /v1/chat/completions (plain, and streamed as server-sent
// events ending in "data: [DONE]") and POST /v1/embeddings, answered in the
// API's own JSON. Like the real service it accepts only the current key
// (Authorization: Bearer): after SetKey the old one gets the API's 401.
//
// Hold makes the streams that start next pause after their first chunk
// until Release, so that a test can rotate the key while they are open.
type FakeAPI struct {
	*httptest.Server

	mu      sync.Mutex
	key     string
	gate    *gate         // non-nil: streams wait on it after their first chunk
	changed chan struct{} // closed and replaced whenever a stream is held
	counts  APICounts
	echo    bool // a 401 names the key it was given, as some gateways do
}

// APICounts is what the fake served.
type APICounts struct {
	Chats, Streams, Embeddings int // successful answers
	Rejected                   int // 401s: a key that is not the current one
	HeldAcrossRotation         int // streams held open while the key changed, then completed
}

// NewFakeAPI starts the fake, accepting key.
func NewFakeAPI(key string) *FakeAPI {
	f := &FakeAPI{key: key, changed: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// SetKey makes key the only one accepted, as the provider does once the
// old key is revoked.
func (f *FakeAPI) SetKey(key string) {
	f.mu.Lock()
	f.key = key
	f.mu.Unlock()
}

// gate holds streams until it is opened; n counts the streams waiting on
// it (a released stream no longer counts for the next gate).
type gate struct {
	ch chan struct{}
	n  int
}

// EchoKeys makes a 401 name the whole key it was given, as some gateways
// and proxies do (the real API names a masked key), so that a test can
// check that the service's log does not repeat it.
func (f *FakeAPI) EchoKeys() {
	f.mu.Lock()
	f.echo = true
	f.mu.Unlock()
}

// Hold makes streams pause after their first chunk until Release.
func (f *FakeAPI) Hold() {
	f.mu.Lock()
	if f.gate == nil {
		f.gate = &gate{ch: make(chan struct{})}
	}
	f.mu.Unlock()
}

// Release lets the held streams go on.
func (f *FakeAPI) Release() {
	f.mu.Lock()
	if f.gate != nil {
		close(f.gate.ch)
		f.gate = nil
	}
	f.mu.Unlock()
}

// WaitHeld waits until n streams are held, or ctx ends.
func (f *FakeAPI) WaitHeld(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		held, changed := 0, f.changed
		if f.gate != nil {
			held = f.gate.n
		}
		f.mu.Unlock()
		if held >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d streams held: %w", held, n, ctx.Err())
		}
	}
}

// Counts returns what the fake served.
func (f *FakeAPI) Counts() APICounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// wait holds a stream on g until it opens or the request ends.
func (f *FakeAPI) wait(r *http.Request, g *gate) {
	f.mu.Lock()
	g.n++
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	select {
	case <-g.ch:
	case <-r.Context().Done():
	}
}

func apiError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code, "param": nil}})
}

func (f *FakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/v1/embeddings") {
		apiError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL.")
		return
	}
	f.mu.Lock()
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		f.counts.Rejected++
		msg := "Incorrect API key provided."
		if f.echo {
			msg = "Incorrect API key provided: " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + "."
		}
		f.mu.Unlock()
		apiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", msg)
		return
	}
	gate := f.gate
	f.mu.Unlock()
	w.Header().Set("X-Request-Id", "req_FAKE")
	if r.URL.Path == "/v1/embeddings" {
		f.embeddings(w, body)
		return
	}
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "We could not parse the JSON body of your request.")
		return
	}
	if !req.Stream {
		f.mu.Lock()
		f.counts.Chats++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-FAKE", "object": "chat.completion", "created": 1764000000, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": Answer, "refusal": nil}}},
			"usage": map[string]any{"prompt_tokens": 9, "completion_tokens": 10, "total_tokens": 19},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": "chatcmpl-FAKE", "object": "chat.completion.chunk", "created": 1764000000,
			"model": req.Model, "choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		fl.Flush()
	}
	words := strings.SplitAfter(Answer, " ")
	chunk(map[string]any{"role": "assistant", "content": words[0]}, nil)
	held := false
	if gate != nil {
		f.wait(r, gate)
		held = true
		if r.Context().Err() != nil {
			return
		}
	}
	for _, wd := range words[1:] {
		chunk(map[string]any{"content": wd}, nil)
	}
	// Counted before the last chunk, so that a client that has read the
	// whole stream finds it counted.
	f.mu.Lock()
	f.counts.Streams++
	if held {
		f.counts.HeldAcrossRotation++
	}
	f.mu.Unlock()
	chunk(map[string]any{}, "stop")
	io.WriteString(w, "data: [DONE]\n\n")
	fl.Flush()
}

func (f *FakeAPI) embeddings(w http.ResponseWriter, body []byte) {
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	_ = json.Unmarshal(body, &req)
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil || req.Model == "" {
			apiError(w, http.StatusBadRequest, "invalid_request_error", "invalid_input", "'input' must be a string or an array of strings.")
			return
		}
		inputs = []string{one}
	}
	data := make([]any, len(inputs))
	for i, in := range inputs {
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": vector(in, 8)}
	}
	f.mu.Lock()
	f.counts.Embeddings++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": req.Model, "data": data,
		"usage": map[string]any{"prompt_tokens": 4 * len(inputs), "total_tokens": 4 * len(inputs)}})
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
