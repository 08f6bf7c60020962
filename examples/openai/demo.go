package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/env"
	"github.com/credkit/credkit/rotate"
)

// demoKey returns the i-th fake key, in the real format.
func demoKey(i int) string {
	return fmt.Sprintf("sk-proj-FAKEdemo%02dKEYnotREAL%s", i, strings.Repeat("x", 30))
}

// demoHealthToken is the fake health token the demo serves detail to.
const demoHealthToken = "hc-FAKE-demo-health-token-0123456789"

// DemoConfig shapes a demo run.
type DemoConfig struct {
	Clients   int // concurrent clients, each streaming, chatting and embedding
	Rotations int // key rotations while every client's stream is open
	Rounds    int // rounds each client makes at least (one more after the last rotation in any case)
	Out       io.Writer
}

// Stats is what a demo run measured.
type Stats struct {
	Requests  int64 // requests the clients made to the service
	Streams   int64 // of which streamed chats
	Failures  int64 // requests that failed or whose answer was incomplete
	Rotations int   // rotations the service's key saw
	API       APICounts
	Readyz    int  // status of /readyz at the end
	Detail    bool // /readyz?verbose with the token showed the checks
	Hidden    bool // /readyz?verbose without it did not
	KeyInLog  bool
	LogLines  int
	Logs      []byte
}

// Check returns an error naming what went wrong.
func (s Stats) Check() error {
	var errs []error
	if s.Failures != 0 {
		errs = append(errs, fmt.Errorf("%d of %d requests failed", s.Failures, s.Requests))
	}
	if s.KeyInLog {
		errs = append(errs, errors.New("a key appeared in the service's log"))
	}
	if s.Readyz != http.StatusOK || !s.Detail || !s.Hidden {
		errs = append(errs, fmt.Errorf("/readyz answered %d, detail with token %v, hidden without %v", s.Readyz, s.Detail, s.Hidden))
	}
	return errors.Join(errs...)
}

func (s Stats) String() string {
	return fmt.Sprintf("requests %d (streams %d), failed %d, rotations %d, streams held open across a rotation %d, 401s absorbed %d, API answers: %d chats, %d streams, %d embeddings; /readyz %d; log lines %d, key in log %v",
		s.Requests, s.Streams, s.Failures, s.Rotations, s.API.HeldAcrossRotation, s.API.Rejected,
		s.API.Chats, s.API.Streams, s.API.Embeddings, s.Readyz, s.LogLines, s.KeyInLog)
}

// envResolver serves env:// URLs from a map (the demo leaves the process
// environment alone) and every other URL from a provider.URLMux.
type envResolver struct {
	mux *provider.URLMux
	env *env.Provider
}

func (r envResolver) Resolve(ctx context.Context, raw string) (credential.Provider, string, error) {
	if name, ok := strings.CutPrefix(raw, "env://"); ok {
		return r.env, name, nil
	}
	return r.mux.Resolve(ctx, raw)
}

// writeKey replaces the key file atomically, as a secret manager's agent
// or a Kubernetes secret mount does.
func writeKey(path, key string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Demo runs the service against the fake API with cfg.Clients clients
// that stream, chat and embed in a loop, and rotates the key cfg.Rotations
// times while every client's stream is open: the new key goes into the
// file and the provider revokes the old one at once, then the streams go
// on.
func Demo(ctx context.Context, cfg DemoConfig) (Stats, error) {
	var st Stats
	api := NewFakeAPI(demoKey(0))
	defer api.Close()
	dir, err := os.MkdirTemp("", "credkit-openai-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "openai")
	if err := writeKey(keyFile, demoKey(0)); err != nil {
		return st, err
	}
	vars := map[string]string{"HEALTH_TOKEN": demoHealthToken}
	var logs syncBuffer
	svc, err := NewService(ctx, Config{
		KeyURL:         "file://" + keyFile,
		HealthTokenURL: "env://HEALTH_TOKEN",
		BaseURL:        api.URL + "/v1",
		Resolver: envResolver{mux: provider.NewURLMux(), env: env.New(env.WithLookup(func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		}))},
		LogOut: &logs,
		Policy: []degrade.PolicyOption{degrade.WithBackoff(10*time.Millisecond, 200*time.Millisecond)},
	})
	if err != nil {
		return st, err
	}
	defer svc.Close()
	front := httptest.NewServer(svc.Mux)
	defer front.Close()
	rotated := make(chan struct{}, 16)
	defer svc.Key.OnRotate(func(e rotate.Event) {
		if e.Kind == rotate.EventRotated {
			rotated <- struct{}{}
		}
	})()

	// The clients: each loops stream, chat, embed until the rotations are
	// done, then makes one more round on the last key.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var requests, streams, failures atomic.Int64
	failed := make(chan string, 1)
	// The first failure stops the rotations at once (they wait for every
	// client to be mid-stream, which a failing service may never be).
	rctx, stopRotations := context.WithCancel(ctx)
	defer stopRotations()
	call := func(path, body string, check func(status int, b []byte) bool) {
		requests.Add(1)
		resp, err := front.Client().Post(front.URL+path, "application/json", strings.NewReader(body))
		var b []byte
		status := 0
		if err == nil {
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		if err != nil || !check(status, b) {
			failures.Add(1)
			stopRotations()
			select {
			case failed <- fmt.Sprintf("%s: %d %q %v", path, status, b, err):
			default:
			}
		}
	}
	for c := 0; c < cfg.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				last := false
				select {
				case <-stop:
					last = round+1 >= cfg.Rounds
				case <-ctx.Done():
					return
				default:
				}
				streams.Add(1)
				call("/v1/chat", `{"prompt":"How do keys rotate?","stream":true}`, func(s int, b []byte) bool {
					return s == 200 && string(b) == Answer
				})
				call("/v1/chat", `{"prompt":"And without streaming?"}`, func(s int, b []byte) bool {
					var out struct{ Answer string }
					return s == 200 && json.Unmarshal(b, &out) == nil && out.Answer == Answer
				})
				call("/v1/embed", fmt.Sprintf(`{"texts":["client %d","rotation"]}`, c), func(s int, b []byte) bool {
					var out struct{ Vectors, Dimensions int }
					return s == 200 && json.Unmarshal(b, &out) == nil && out.Vectors == 2 && out.Dimensions == 8
				})
				if last {
					return
				}
			}
		}()
	}

	var runErr error
	for i := 1; i <= cfg.Rotations && runErr == nil; i++ {
		api.Hold()
		if runErr = api.WaitHeld(rctx, cfg.Clients); runErr != nil {
			break
		}
		// Every client is mid-stream. The operator puts the new key in
		// the file and revokes the old one at once.
		if runErr = writeKey(keyFile, demoKey(i)); runErr != nil {
			break
		}
		api.SetKey(demoKey(i))
		api.Release()
		select {
		case <-rotated:
		case <-rctx.Done():
			runErr = fmt.Errorf("rotation %d not seen: %w", i, rctx.Err())
		}
	}
	api.Release()
	close(stop)
	wg.Wait()
	if runErr != nil {
		select {
		case f := <-failed:
			return st, fmt.Errorf("a request failed: %s", f)
		default:
			return st, runErr
		}
	}

	if err := waitChecked(ctx, svc.Monitor); err != nil {
		return st, err
	}
	st.Readyz, _, _ = get(front, "/readyz", "")
	_, hidden, _ := get(front, "/readyz?verbose", "")
	_, detail, _ := get(front, "/readyz?verbose", demoHealthToken)
	st.Hidden = !strings.Contains(hidden, `"openai`)
	st.Detail = strings.Contains(detail, `"openai`)
	st.Requests, st.Streams, st.Failures = requests.Load(), streams.Load(), failures.Load()
	st.Rotations = svc.Key.Status().Rotations
	st.API = api.Counts()
	st.Logs = logs.Bytes()
	st.LogLines = bytes.Count(st.Logs, []byte("\n"))
	for i := 0; i <= cfg.Rotations; i++ {
		st.KeyInLog = st.KeyInLog || bytes.Contains(st.Logs, []byte(demoKey(i)))
	}
	st.KeyInLog = st.KeyInLog || bytes.Contains(st.Logs, []byte(demoHealthToken))
	select {
	case f := <-failed:
		fmt.Fprintln(cfg.Out, "first failure:", f)
	default:
	}
	fmt.Fprintln(cfg.Out, st)
	return st, nil
}

// waitChecked waits until every check of m has run once, so that /readyz
// reports results and not "not run yet".
func waitChecked(ctx context.Context, m *health.Monitor) error {
	changed := make(chan struct{}, 1)
	defer m.OnChange(func(health.Change) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})()
	for {
		pending := 0
		for _, v := range m.Results() {
			if v.Result.Status == health.Pending {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d health checks not run: %w", pending, ctx.Err())
		}
	}
}

// get fetches path from the service, with token as bearer when set.
func get(front *httptest.Server, path, token string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, front.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := front.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
