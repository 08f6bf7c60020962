package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	oldKey = "sk-proj-FAKE0000000000000000000000000000"
	newKey = "sk-proj-FAKE1111111111111111111111111111"
)

// fault is one scripted answer.
type fault struct {
	status int
	header map[string]string
}

// provider is a fault server speaking OpenAI's chat completions and
// Anthropic's messages, plain and streamed. It accepts only the valid key,
// answers the script first (its last entry repeating when repeat is set),
// and can hold a stream after its first event until release is closed.
type provider struct {
	*httptest.Server
	mu       sync.Mutex
	valid    string
	script   []fault
	repeat   bool
	statuses []int
	keys     []string
	hold     chan struct{} // a stream waits on it after its first event
	holding  chan struct{} // closed when a stream is waiting
}

func newProvider(t *testing.T, valid string, script ...fault) *provider {
	p := &provider{valid: valid, script: script}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *provider) setValid(k string) {
	p.mu.Lock()
	p.valid = k
	p.mu.Unlock()
}

func (p *provider) seen() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.statuses...)
}

func (p *provider) usedKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys...)
}

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req struct {
		Stream bool `json:"stream"`
	}
	_ = json.Unmarshal(b, &req)
	anthropicAPI := strings.HasSuffix(r.URL.Path, "/v1/messages")
	key := r.Header.Get("X-Api-Key") // Anthropic's header; its SDK's WithAPIKey sends a bearer token
	if key == "" {
		key = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	p.mu.Lock()
	f := fault{status: 200}
	switch {
	case key != p.valid:
		f = fault{status: 401}
	case len(p.script) > 0:
		f = p.script[0]
		if len(p.script) > 1 || !p.repeat {
			p.script = p.script[1:]
		}
	}
	p.statuses = append(p.statuses, f.status)
	p.keys = append(p.keys, key)
	hold, holding := p.hold, p.holding
	p.mu.Unlock()

	for k, v := range f.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Request-Id", "req_FAKE")
	if f.status != 200 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		switch {
		case anthropicAPI && f.status == 529:
			io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		case anthropicAPI:
			io.WriteString(w, `{"type":"error","error":{"type":"api_error","message":"fault"}}`)
		case f.status == 401:
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
		default:
			io.WriteString(w, `{"error":{"message":"fault","type":"server_error","code":null}}`)
		}
		return
	}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		if anthropicAPI {
			io.WriteString(w, `{"id":"msg_FAKE","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"pong"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`)
		} else {
			io.WriteString(w, `{"id":"chatcmpl-FAKE","object":"chat.completion","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
		}
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	fl := w.(http.Flusher)
	var events []string
	if anthropicAPI {
		events = []string{
			"event: message_start\ndata: " + `{"type":"message_start","message":{"id":"msg_FAKE","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}`,
			"event: content_block_start\ndata: " + `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			"event: content_block_delta\ndata: " + `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"po"}}`,
			"event: content_block_delta\ndata: " + `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ng"}}`,
			"event: content_block_stop\ndata: " + `{"type":"content_block_stop","index":0}`,
			"event: message_delta\ndata: " + `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}`,
			"event: message_stop\ndata: " + `{"type":"message_stop"}`,
		}
	} else {
		chunk := func(s string) string {
			return fmt.Sprintf(`data: {"id":"chatcmpl-FAKE","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, s)
		}
		events = []string{chunk("po"), chunk("ng"), "data: [DONE]"}
	}
	for i, e := range events {
		io.WriteString(w, e+"\n\n")
		fl.Flush()
		if i == 0 && hold != nil {
			close(holding)
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
	}
}
