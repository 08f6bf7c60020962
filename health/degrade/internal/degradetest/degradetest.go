// Package degradetest holds the fault server, the fake-clock driver and the
// test credentials the tests of health/degrade and its sub-packages share.
package degradetest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
)

// Test keys: obviously fake values in OpenAI's format.
const (
	KeyOld = "sk-proj-FAKE0000000000000000000000000000"
	KeyNew = "sk-proj-FAKE1111111111111111111111111111"
	KeyC   = "sk-proj-FAKE2222222222222222222222222222"
)

// Step is one scripted answer of the fault server.
type Step struct {
	Status int
	Header map[string]string
	Body   string
	Delay  time.Duration  // real time, for "slow past the timeout"
	Reset  bool           // hijack and close the connection
	ByKey  map[string]int // status per bearer key, overriding Status
}

// Server answers requests with a script: Step i for the i-th request,
// the last Step repeating. It records what it saw.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	steps    []Step
	calls    int // requests that reached the script
	rejected int // requests refused for their key
	keys     []string
	bodies   []string
	Valid    atomic.Pointer[string] // when set, only this bearer key is accepted
}

// NewServer starts a fault server for the test.
func NewServer(t *testing.T, steps ...Step) *Server {
	t.Helper()
	fs := &Server{steps: steps}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

// Script replaces the script and resets the counts.
func (fs *Server) Script(steps ...Step) {
	fs.mu.Lock()
	fs.steps, fs.calls, fs.rejected = steps, 0, 0
	fs.mu.Unlock()
}

func (fs *Server) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	fs.mu.Lock()
	fs.keys = append(fs.keys, key)
	fs.bodies = append(fs.bodies, string(b))
	if v := fs.Valid.Load(); v != nil && key != *v {
		// A rejected key does not consume a Step of the script.
		fs.rejected++
		fs.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	st := Step{Status: 200}
	if len(fs.steps) > 0 {
		st = fs.steps[min(fs.calls, len(fs.steps)-1)]
	}
	fs.calls++
	fs.mu.Unlock()
	if st.Reset {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
		return
	}
	if st.Delay > 0 {
		select {
		case <-time.After(st.Delay):
		case <-r.Context().Done():
			return
		}
	}
	status := st.Status
	if s, ok := st.ByKey[key]; ok {
		status = s
	}
	for k, v := range st.Header {
		w.Header().Set(k, v)
	}
	if status == 0 {
		status = 200
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if st.Body != "" {
		io.WriteString(w, st.Body)
	} else if status == 200 {
		io.WriteString(w, `{"ok":true}`)
	}
}

// Calls returns how many requests reached the script.
func (fs *Server) Calls() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.calls
}

// Keys returns the bearer keys requests carried, in order.
func (fs *Server) Keys() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.keys...)
}

// Bodies returns the request bodies, in order.
func (fs *Server) Bodies() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.bodies...)
}

// NewClock returns a fake clock starting at the real time, so that context
// deadlines (real time) and the clock can be compared.
func NewClock() *fakeclock.Clock { return fakeclock.New(time.Now()) }

// Drive advances clk to each armed timer until done is closed.
func Drive(clk *fakeclock.Clock, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		default:
		}
		if clk.Timers() > 0 {
			clk.AdvanceToNext()
			continue
		}
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// Async runs f in a goroutine, drives clk until it returns, and returns
// how much fake time passed.
func Async(clk *fakeclock.Clock, f func()) time.Duration {
	start := clk.Now()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	Drive(clk, done)
	return clk.Now().Sub(start)
}

// Rotating is a credential whose Refresh moves to the next value (an
// operator rotated the key), like rotate's watched credential.
type Rotating struct {
	*credential.Static
	mu        sync.Mutex
	next      []string
	Refreshes atomic.Int32
}

// NewRotating returns a rotating credential holding first.
func NewRotating(name, first string, next ...string) *Rotating {
	return &Rotating{Static: credential.NewStatic(name, credential.NewSecret(first), credential.Metadata{}), next: next}
}

// Refresh moves to the next value, reporting whether there was one.
func (r *Rotating) Refresh(ctx context.Context) (bool, error) {
	r.Refreshes.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.next) == 0 {
		return false, nil
	}
	r.Set(credential.NewSecret(r.next[0]))
	r.next = r.next[1:]
	return true, nil
}

var (
	_ credential.Credential = (*Rotating)(nil)
	_ credential.Refresher  = (*Rotating)(nil)
)

// Get sends a GET through c and reads the body.
func Get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// NewTextLogger returns a text logger writing to w.
func NewTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// Statics returns static credentials named keya, keyb, … holding values.
func Statics(values ...string) []credential.Credential {
	var out []credential.Credential
	for i, v := range values {
		out = append(out, credential.NewStatic("key"+string(rune('a'+i)), credential.NewSecret(v), credential.Metadata{}))
	}
	return out
}
