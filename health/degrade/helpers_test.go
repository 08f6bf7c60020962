package degrade_test

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

	"go.uber.org/goleak"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

const (
	keyOld = "sk-proj-FAKE0000000000000000000000000000"
	keyNew = "sk-proj-FAKE1111111111111111111111111111"
	keyC   = "sk-proj-FAKE2222222222222222222222222222"
)

// step is one scripted answer of the fault server.
type step struct {
	status  int
	header  map[string]string
	body    string
	delay   time.Duration  // real time, for "slow past the timeout"
	reset   bool           // hijack and close the connection
	byKey   map[string]int // status per bearer key, overriding status
	noMatch bool
}

// faultServer answers requests with a script: step i for the i-th request,
// the last step repeating. It records what it saw.
type faultServer struct {
	*httptest.Server
	mu       sync.Mutex
	steps    []step
	calls    int // requests that reached the script
	rejected int // requests refused for their key
	keys     []string
	bodies   []string
	valid    atomic.Pointer[string] // when set, only this bearer key is accepted
}

func newFaultServer(t *testing.T, steps ...step) *faultServer {
	t.Helper()
	fs := &faultServer{steps: steps}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *faultServer) script(steps ...step) {
	fs.mu.Lock()
	fs.steps, fs.calls, fs.rejected = steps, 0, 0
	fs.mu.Unlock()
}

func (fs *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	fs.mu.Lock()
	fs.keys = append(fs.keys, key)
	fs.bodies = append(fs.bodies, string(b))
	if v := fs.valid.Load(); v != nil && key != *v {
		// A rejected key does not consume a step of the script.
		fs.rejected++
		fs.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	st := step{status: 200}
	if len(fs.steps) > 0 {
		st = fs.steps[min(fs.calls, len(fs.steps)-1)]
	}
	fs.calls++
	fs.mu.Unlock()
	if st.reset {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
		return
	}
	if st.delay > 0 {
		select {
		case <-time.After(st.delay):
		case <-r.Context().Done():
			return
		}
	}
	status := st.status
	if s, ok := st.byKey[key]; ok {
		status = s
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	if status == 0 {
		status = 200
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if st.body != "" {
		io.WriteString(w, st.body)
	} else if status == 200 {
		io.WriteString(w, `{"ok":true}`)
	}
}

func (fs *faultServer) Calls() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.calls
}

func (fs *faultServer) Keys() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.keys...)
}

func (fs *faultServer) Bodies() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.bodies...)
}

// newClock returns a fake clock starting at the real time, so that context
// deadlines (real time) and the clock can be compared.
func newClock() *fakeclock.Clock { return fakeclock.New(time.Now()) }

// drive advances clk to each armed timer until done is closed.
func drive(clk *fakeclock.Clock, done <-chan struct{}) {
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

// async runs f in a goroutine, drives clk until it returns, and returns
// how much fake time passed.
func async(clk *fakeclock.Clock, f func()) time.Duration {
	start := clk.Now()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	drive(clk, done)
	return clk.Now().Sub(start)
}

// rotating is a credential whose Refresh moves to the next value (an
// operator rotated the key), like rotate's watched credential.
type rotating struct {
	*credential.Static
	mu        sync.Mutex
	next      []string
	refreshes atomic.Int32
}

func newRotating(name, first string, next ...string) *rotating {
	return &rotating{Static: credential.NewStatic(name, credential.NewSecret(first), credential.Metadata{}), next: next}
}

func (r *rotating) Refresh(ctx context.Context) (bool, error) {
	r.refreshes.Add(1)
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
	_ credential.Credential = (*rotating)(nil)
	_ credential.Refresher  = (*rotating)(nil)
)

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
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

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func statics(values ...string) []credential.Credential {
	var out []credential.Credential
	for i, v := range values {
		out = append(out, credential.NewStatic("key"+string(rune('a'+i)), credential.NewSecret(v), credential.Metadata{}))
	}
	return out
}
