package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Answer is what the fake model says to every message, streamed word by
// word.
const Answer = "The key changed under this stream and it did not notice."

// OverloadOnce in a prompt makes the fake answer that prompt's first
// request 529 overloaded_error, as Anthropic does under load.
const OverloadOnce = "[busy]"

// FakeAPI is an in-process stand-in for Anthropic's Messages API, so the
// example runs offline: POST /v1/messages, plain and streamed as
// server-sent events (message_start … message_stop), answered in the API's
// own JSON. Like the real service it accepts only the current key in
// x-api-key (after SetKey the old one gets the API's 401
// authentication_error) and it can be overloaded (529 overloaded_error):
// one model for good (Overload), or the first request of a prompt holding
// [OverloadOnce].
//
// Hold makes the streams that start next pause after their first event
// until Release, so that a test can rotate the key while they are open.
type FakeAPI struct {
	*httptest.Server

	mu         sync.Mutex
	key        string
	overloaded map[string]bool // models answering 529
	seen       map[string]bool // prompts holding OverloadOnce already answered 529
	gate       *gate           // non-nil: streams wait on it after their first chunk
	changed    chan struct{}
	counts     APICounts
	echo       bool // a 401 names the key it was given, as some gateways do
}

// APICounts is what the fake served.
type APICounts struct {
	Messages, Streams  int            // successful answers
	ByModel            map[string]int // successful answers per model
	Overloaded         int            // 529s
	Rejected           int            // 401s: a key that is not the current one
	HeldAcrossRotation int            // streams held open while the key changed, then completed
}

// NewFakeAPI starts the fake, accepting key.
func NewFakeAPI(key string) *FakeAPI {
	f := &FakeAPI{key: key, overloaded: map[string]bool{}, seen: map[string]bool{}, changed: make(chan struct{}),
		counts: APICounts{ByModel: map[string]int{}}}
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

// Overload makes model answer 529 to everything (on) or recover (off).
func (f *FakeAPI) Overload(model string, on bool) {
	f.mu.Lock()
	f.overloaded[model] = on
	f.mu.Unlock()
}

// EchoKeys makes a 401 name the whole key it was given, as some gateways
// and proxies do, so that a test can check that the service's log does not
// repeat it (anthropic-sdk-go puts the body of an error answer in the
// error's text).
func (f *FakeAPI) EchoKeys() {
	f.mu.Lock()
	f.echo = true
	f.mu.Unlock()
}

// gate holds streams until it is opened; n counts the streams waiting on
// it (a released stream no longer counts for the next gate).
type gate struct {
	ch chan struct{}
	n  int
}

// Hold makes streams pause after their first event until Release.
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
	c := f.counts
	c.ByModel = map[string]int{}
	for k, v := range f.counts.ByModel {
		c.ByModel[k] = v
	}
	return c
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

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg},
		"request_id": "req_FAKE"})
}

func (f *FakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		apiError(w, http.StatusNotFound, "not_found_error", "Not found")
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	var req struct {
		Model     string `json:"model"`
		MaxTokens int    `json:"max_tokens"`
		Stream    bool   `json:"stream"`
		Messages  []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" || req.MaxTokens == 0 || len(req.Messages) == 0 {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "model, max_tokens and messages are required")
		return
	}
	prompt := string(req.Messages[len(req.Messages)-1].Content)
	f.mu.Lock()
	if r.Header.Get("X-Api-Key") != f.key || r.Header.Get("Authorization") != "" {
		f.counts.Rejected++
		msg := "invalid x-api-key"
		if f.echo {
			msg = "invalid x-api-key: " + r.Header.Get("X-Api-Key")
		}
		f.mu.Unlock()
		apiError(w, http.StatusUnauthorized, "authentication_error", msg)
		return
	}
	busy := f.overloaded[req.Model]
	if !busy && strings.Contains(prompt, OverloadOnce) && !f.seen[prompt] {
		f.seen[prompt] = true
		busy = true
	}
	if busy {
		f.counts.Overloaded++
		f.mu.Unlock()
		apiError(w, 529, "overloaded_error", "Overloaded")
		return
	}
	gate := f.gate
	f.mu.Unlock()
	w.Header().Set("Request-Id", "req_FAKE")
	words := strings.SplitAfter(Answer, " ")
	if !req.Stream {
		f.count(req.Model, false, false)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "msg_FAKE", "type": "message", "role": "assistant", "model": req.Model,
			"content":     []any{map[string]any{"type": "text", "text": Answer}},
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": 12, "output_tokens": len(words)},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	event := func(typ string, v map[string]any) {
		v["type"] = typ
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
		fl.Flush()
	}
	event("message_start", map[string]any{"message": map[string]any{"id": "msg_FAKE", "type": "message", "role": "assistant",
		"model": req.Model, "content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 12, "output_tokens": 1}}})
	held := false
	if gate != nil {
		f.wait(r, gate)
		held = true
		if r.Context().Err() != nil {
			return
		}
	}
	event("content_block_start", map[string]any{"index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	for _, wd := range words {
		event("content_block_delta", map[string]any{"index": 0, "delta": map[string]any{"type": "text_delta", "text": wd}})
	}
	event("content_block_stop", map[string]any{"index": 0})
	event("message_delta", map[string]any{"delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": len(words)}})
	f.count(req.Model, true, held) // before the last event: a client that read it finds it counted
	event("message_stop", map[string]any{})
}

func (f *FakeAPI) count(model string, stream, held bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if stream {
		f.counts.Streams++
	} else {
		f.counts.Messages++
	}
	f.counts.ByModel[model]++
	if held {
		f.counts.HeldAcrossRotation++
	}
}
