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
	return fmt.Sprintf("sk-ant-api03-FAKEdemo%02dKEYnotREAL%s-AAAAAAAA", i, strings.Repeat("x", 60))
}

// demoHealthToken is the fake health token the demo serves detail to.
const demoHealthToken = "hc-FAKE-demo-health-token-0123456789"

// DemoConfig shapes a demo run.
type DemoConfig struct {
	Clients    int // concurrent clients, each streaming and asking
	Rotations  int // key rotations while every client's stream is open
	Rounds     int // rounds each client makes at least (one more after the last rotation in any case)
	Overloaded int // questions asked while the primary model is overloaded
	Out        io.Writer
}

// Stats is what a demo run measured.
type Stats struct {
	Requests  int64 // requests the clients made to the service
	Streams   int64 // of which streamed
	Failures  int64 // requests that failed or whose answer was incomplete
	Rotations int   // rotations the service's key saw
	// Absorbed529 counts the 529s answered before the overload: each was
	// retried by the policy and its request answered fresh.
	Absorbed529 int
	// Fresh and Fallback count the answers by marker, as the clients saw
	// them; FallbackWhileOverloaded counts the fallback answers from
	// FallbackModel while PrimaryModel was overloaded.
	Fresh, Fallback, FallbackWhileOverloaded int64
	Markers                                  map[degrade.Marker]int64 // the chains' own counts
	API                                      APICounts
	PrimaryBreaker                           degrade.State
	Readyz                                   int  // status of /readyz while the primary was overloaded
	Detail                                   bool // /readyz?verbose with the token showed the checks
	Hidden                                   bool // /readyz?verbose without it did not
	KeyInLog                                 bool
	LogLines                                 int
	Logs                                     []byte
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
	return fmt.Sprintf("requests %d (streams %d), failed %d, rotations %d, streams held open across a rotation %d, 401s absorbed %d, 529s absorbed %d; overloaded: 529s %d, "+
		"answers fresh %d, fallback %d (all %d from %s while %s was overloaded; primary breaker %v); API answers: %d messages, %d streams %v; /readyz %d; log lines %d, key in log %v",
		s.Requests, s.Streams, s.Failures, s.Rotations, s.API.HeldAcrossRotation, s.API.Rejected, s.Absorbed529, s.API.Overloaded-s.Absorbed529,
		s.Fresh, s.Fallback, s.FallbackWhileOverloaded, FallbackModel, PrimaryModel, s.PrimaryBreaker,
		s.API.Messages, s.API.Streams, s.API.ByModel, s.Readyz, s.LogLines, s.KeyInLog)
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

// answer is what a client got.
type answer struct {
	status        int
	text          string
	marker, model string
}

// Demo runs the service against the fake API. cfg.Clients clients stream
// and ask in a loop (every third round's prompts meet one 529 overloaded answer each)
// while the key is rotated cfg.Rotations times under their open streams:
// the new key goes into the file and the provider revokes the old one at
// once. Then the primary model is overloaded for good and cfg.Overloaded
// questions are asked.
func Demo(ctx context.Context, cfg DemoConfig) (Stats, error) {
	st := Stats{}
	api := NewFakeAPI(demoKey(0))
	defer api.Close()
	dir, err := os.MkdirTemp("", "credkit-anthropic-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "anthropic")
	if err := writeKey(keyFile, demoKey(0)); err != nil {
		return st, err
	}
	vars := map[string]string{"HEALTH_TOKEN": demoHealthToken}
	var logs syncBuffer
	svc, err := NewService(ctx, Config{
		KeyURL:         "file://" + keyFile,
		HealthTokenURL: "env://HEALTH_TOKEN",
		BaseURL:        api.URL,
		Resolver: envResolver{mux: provider.NewURLMux(), env: env.New(env.WithLookup(func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		}))},
		LogOut: &logs,
		Policy: []degrade.PolicyOption{degrade.WithBackoff(5*time.Millisecond, 50*time.Millisecond)},
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

	var requests, streams, failures, fresh, fb atomic.Int64
	failed := make(chan string, 1)
	// The first failure stops the rotations at once (they wait for every
	// client to be mid-stream, which a failing service may never be).
	rctx, stopRotations := context.WithCancel(ctx)
	defer stopRotations()
	ask := func(prompt string, stream bool, want func(answer) bool) answer {
		requests.Add(1)
		if stream {
			streams.Add(1)
		}
		body, _ := json.Marshal(map[string]any{"prompt": prompt, "stream": stream})
		var a answer
		resp, err := front.Client().Post(front.URL+"/v1/ask", "application/json", bytes.NewReader(body))
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			a.status = resp.StatusCode
			if !stream {
				var out struct{ Answer, Marker, Model string }
				if json.Unmarshal(b, &out) == nil {
					a.text, a.marker, a.model = out.Answer, out.Marker, out.Model
				}
			} else {
				a.text, a.marker, a.model = string(b), resp.Header.Get("X-Answer-Marker"), resp.Header.Get("X-Answer-Model")
			}
		}
		switch a.marker {
		case "fresh":
			fresh.Add(1)
		case "fallback":
			fb.Add(1)
		}
		if err != nil || a.status != http.StatusOK || a.text != Answer || !want(a) {
			failures.Add(1)
			stopRotations()
			select {
			case failed <- fmt.Sprintf("%q (stream %v): %+v %v", prompt, stream, a, err):
			default:
			}
		}
		return a
	}
	isFresh := func(a answer) bool { return a.marker == "fresh" && a.model == string(PrimaryModel) }

	// Phase 1: the clients stream and ask until the rotations are done,
	// then make one more round on the last key.
	stop := make(chan struct{})
	var wg sync.WaitGroup
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
				busy := ""
				if round%3 == 1 {
					busy = " " + OverloadOnce
				}
				ask(fmt.Sprintf("client %d, round %d: stream%s", c, round, busy), true, isFresh)
				ask(fmt.Sprintf("client %d, round %d: ask%s", c, round, busy), false, isFresh)
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
	st.Absorbed529 = api.Counts().Overloaded

	// Phase 2: the primary model is overloaded. Each question is retried
	// on it by the policy, then answered by the fallback model, marked.
	api.Overload(string(PrimaryModel), true)
	for i := 0; i < cfg.Overloaded; i++ {
		a := ask(fmt.Sprintf("while overloaded %d", i), i%2 == 0, func(a answer) bool {
			return a.marker == "fallback" && a.model == string(FallbackModel)
		})
		if a.marker == "fallback" && a.model == string(FallbackModel) {
			st.FallbackWhileOverloaded++
		}
	}
	if err := waitChecked(ctx, svc.Monitor); err != nil {
		return st, err
	}
	st.Readyz, _, _ = get(front, "/readyz", "")
	_, hidden, _ := get(front, "/readyz?verbose", "")
	_, detail, _ := get(front, "/readyz?verbose", demoHealthToken)
	api.Overload(string(PrimaryModel), false)
	st.Hidden = !strings.Contains(hidden, string(PrimaryModel))
	st.Detail = strings.Contains(detail, string(PrimaryModel))

	st.Requests, st.Streams, st.Failures, st.Fallback = requests.Load(), streams.Load(), failures.Load(), fb.Load()
	st.Fresh = fresh.Load()
	st.Rotations = svc.Key.Status().Rotations
	st.Markers = svc.Ask.Counts()
	for m, n := range svc.Stream.Counts() {
		st.Markers[m] += n
	}
	st.PrimaryBreaker = svc.Policies[PrimaryModel].Breaker().State()
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
