package main

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// FakeAPI is an in-process fake of the two OpenAI endpoints the service
// calls, speaking their wire format: POST /v1/embeddings and POST
// /v1/chat/completions. It accepts only the current key, embeds text as a
// hashed bag of words (so that texts sharing words are near each other),
// answers a chat from the first source in the prompt, and can take the
// embedding API or one chat model down (503, as an overloaded API
// answers).
type FakeAPI struct {
	*httptest.Server
	key           string // the only key accepted
	embeddingDown atomic.Bool

	mu    sync.Mutex
	down  map[string]bool // chat models answering 503
	calls map[string]*Calls
}

// Calls counts one endpoint's (or model's) requests.
type Calls struct{ OK, Failed int }

// Dimensions of the fake's embeddings.
const fakeDims = 256

// NewFakeAPI starts the fake, accepting key.
func NewFakeAPI(key string) *FakeAPI {
	f := &FakeAPI{key: key, down: map[string]bool{}, calls: map[string]*Calls{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/embeddings", f.embeddings)
	mux.HandleFunc("POST /v1/chat/completions", f.chat)
	f.Server = httptest.NewServer(f.auth(mux))
	return f
}

// BaseURL is the API's base URL, as option.WithBaseURL takes it.
func (f *FakeAPI) BaseURL() string { return f.Server.URL + "/v1/" }

// SetEmbeddingDown takes the embedding API down or brings it back.
func (f *FakeAPI) SetEmbeddingDown(down bool) { f.embeddingDown.Store(down) }

// SetModelDown takes a chat model down or brings it back.
func (f *FakeAPI) SetModelDown(model string, down bool) {
	f.mu.Lock()
	f.down[model] = down
	f.mu.Unlock()
}

// Calls returns a copy of the counters: "embeddings", "chat <model>" and
// "unauthorized".
func (f *FakeAPI) Calls() map[string]Calls {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]Calls, len(f.calls))
	for k, c := range f.calls {
		out[k] = *c
	}
	return out
}

func (f *FakeAPI) count(what string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls[what]
	if c == nil {
		c = &Calls{}
		f.calls[what] = c
	}
	if ok {
		c.OK++
	} else {
		c.Failed++
	}
}

func (f *FakeAPI) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.key {
			f.count("unauthorized", false)
			apiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func apiError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

func (f *FakeAPI) embeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "bad JSON")
		return
	}
	if f.embeddingDown.Load() {
		f.count("embeddings", false)
		apiError(w, http.StatusServiceUnavailable, "server_error", "", "The server is overloaded.")
		return
	}
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			apiError(w, http.StatusBadRequest, "invalid_request_error", "", "input must be a string or an array of strings")
			return
		}
		inputs = []string{one}
	}
	f.count("embeddings", true)
	data := make([]map[string]any, len(inputs))
	for i, in := range inputs {
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": embedText(in)}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": req.Model, "data": data,
		"usage": map[string]int{"prompt_tokens": len(inputs), "total_tokens": len(inputs)}})
}

var word = regexp.MustCompile(`[a-z0-9]+`)

// stopwords carry no meaning for the fake's similarity.
var stopwords = map[string]bool{"a": true, "an": true, "the": true, "is": true, "to": true, "of": true, "and": true,
	"how": true, "do": true, "i": true, "my": true, "what": true, "in": true, "on": true, "it": true, "for": true, "does": true}

// embedText is the fake model: a normalised hashed bag of words.
func embedText(s string) []float64 {
	v := make([]float64, fakeDims)
	for _, w := range word.FindAllString(strings.ToLower(s), -1) {
		if stopwords[w] {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(strings.TrimSuffix(w, "s")))
		v[h.Sum32()%fakeDims]++
	}
	var n float64
	for _, x := range v {
		n += x * x
	}
	if n == 0 {
		v[0], n = 1, 1
	}
	for i := range v {
		v[i] /= math.Sqrt(n)
	}
	return v
}

// source is how the service lists a source in its prompt: "[id] text".
var source = regexp.MustCompile(`(?m)^\[([^\]]+)\] (.*)$`)

func (f *FakeAPI) chat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "bad JSON")
		return
	}
	f.mu.Lock()
	down := f.down[req.Model]
	f.mu.Unlock()
	if down {
		f.count("chat "+req.Model, false)
		apiError(w, http.StatusServiceUnavailable, "server_error", "", "The model is overloaded.")
		return
	}
	f.count("chat "+req.Model, true)
	answer := "I found nothing on that."
	for _, m := range req.Messages {
		if s := source.FindStringSubmatch(m.Content); s != nil {
			answer = "According to " + s[1] + ": " + s[2]
			break
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": req.Model,
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": answer}}},
		"usage": map[string]int{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
	})
}
