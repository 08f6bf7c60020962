package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/oauthfake"
)

// fakeAPI is the upstream, offline: a model API that takes an API key
// (POST /v1/chat/completions) and the OpenAI API that takes the token of
// the federation exchange (POST /v1/embeddings). It accepts the keys it is
// told to, and the tokens the token endpoint issued and has not expired.
// It records fingerprints, never values.
type fakeAPI struct {
	*httptest.Server
	tokens *oauthfake.Server
	clock  credential.Clock

	mu       sync.Mutex
	keys     map[string]bool // accepted API keys
	lastKey  string          // fingerprint of the last key accepted
	lastTok  string          // fingerprint of the last token accepted
	byKey    map[string]int  // fingerprint → requests answered
	rejected int             // requests refused (401)
}

func newFakeAPI(tokens *oauthfake.Server, clock credential.Clock) *fakeAPI {
	f := &fakeAPI{tokens: tokens, clock: clock, keys: map[string]bool{}, byKey: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *fakeAPI) accept(key string) { f.mu.Lock(); f.keys[key] = true; f.mu.Unlock() }
func (f *fakeAPI) revoke(key string) { f.mu.Lock(); delete(f.keys, key); f.mu.Unlock() }

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	fp := credential.NewSecret(bearer).Fingerprint()
	f.mu.Lock()
	switch {
	case r.Method != http.MethodPost:
		f.mu.Unlock()
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	case r.URL.Path == "/v1/chat/completions" && ok && f.keys[bearer]:
		f.lastKey = fp
		f.byKey[fp]++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "chat.completion", "choices": []any{map[string]any{"message": map[string]string{"role": "assistant", "content": "ok"}}}})
		return
	case r.URL.Path == "/v1/embeddings" && ok && f.tokens.Valid(bearer, f.clock.Now()):
		f.lastTok = fp
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{map[string]any{"embedding": []float64{0.1, 0.2}}}})
		return
	}
	f.rejected++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}})
}

func (f *fakeAPI) last() (key, tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastKey, f.lastTok
}

// subjectRecorder sits in front of the token endpoint and records the
// fingerprint of each subject token presented.
type subjectRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newSubjectRecorder(next http.Handler) *subjectRecorder {
	s := &subjectRecorder{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b := new(strings.Builder)
		_, _ = copyN(b, r)
		if json.Unmarshal([]byte(b.String()), &body) == nil {
			if st, ok := body["subject_token"].(string); ok {
				s.mu.Lock()
				s.seen = append(s.seen, credential.NewSecret(st).Fingerprint())
				s.mu.Unlock()
			}
		}
		r.Body = readCloser(b.String())
		next.ServeHTTP(w, r)
	}))
	return s
}

func (s *subjectRecorder) presented() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func copyN(b *strings.Builder, r *http.Request) (int64, error) {
	return io.Copy(b, io.LimitReader(r.Body, 1<<16))
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
