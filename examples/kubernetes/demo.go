package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider/oauth2"
	"github.com/credkit/credkit/rotate"
)

// DemoConfig configures [Demo].
type DemoConfig struct {
	Workers int // concurrent API callers; 8 when zero
	Swaps   int // kubelet swaps of each volume; 10 when zero
	// Mode is the volumes' defaultMode; 0400 when zero.
	Mode os.FileMode
	// KeyURLQuery is the query of the API key's file:// URL ("?setting=value"), or "".
	KeyURLQuery string
	Out         io.Writer // the summary; nil prints nothing
}

// Stats is what [Demo] measured.
type Stats struct {
	Requests     int64 // API requests answered 200
	Failed       int64 // API requests answered otherwise: must be 0
	Rejected     int   // upstream 401s (old key revoked before the swap was seen), absorbed by the Transport's refresh and retry
	Probes       int64 // /livez and /readyz probes answered 200 (kubelet's view: no token)
	ProbeFailed  int64 // probes answered otherwise: must be 0
	DetailChecks int   // /readyz detail reads (with the health token) showing both credentials fresh at their current version

	KeySwaps, TokenSwaps int // kubelet swaps of the Secret and the projected token
	KeyRotations         int // new API keys the service picked up: must be KeySwaps
	KeyAfterSwap         int // swaps after which the upstream saw the new key: must be KeySwaps
	Exchanges            int // token exchanges
	NewSubjectAfterSwap  int // swaps after which the next exchange presented the new projected token: must be TokenSwaps
	TokenAfterSwap       int // swaps after which the upstream saw the new access token: must be TokenSwaps
	FakeTime             time.Duration
	DistinctKeysUsed     int // API keys the upstream saw in use

	Leaks      int // values found in the service's log or a probe's body: must be 0
	ServiceLog []byte
}

// Check returns an error naming what went wrong, if anything did.
func (s Stats) Check() error {
	var errs []error
	if s.Failed != 0 || s.ProbeFailed != 0 {
		errs = append(errs, fmt.Errorf("%d requests and %d probes failed", s.Failed, s.ProbeFailed))
	}
	if s.KeyRotations != s.KeySwaps || s.KeyAfterSwap != s.KeySwaps || s.DistinctKeysUsed != s.KeySwaps+1 {
		errs = append(errs, fmt.Errorf("%d key swaps: %d picked up, %d then used upstream, %d keys used in all", s.KeySwaps, s.KeyRotations, s.KeyAfterSwap, s.DistinctKeysUsed))
	}
	if s.NewSubjectAfterSwap != s.TokenSwaps || s.TokenAfterSwap != s.TokenSwaps {
		errs = append(errs, fmt.Errorf("%d token swaps: the next exchange presented the new token %d times, the new access token was used %d times", s.TokenSwaps, s.NewSubjectAfterSwap, s.TokenAfterSwap))
	}
	if s.DetailChecks != s.KeySwaps+s.TokenSwaps {
		errs = append(errs, fmt.Errorf("/readyz detail showed the new versions fresh %d times for %d swaps", s.DetailChecks, s.KeySwaps+s.TokenSwaps))
	}
	if s.Leaks != 0 {
		errs = append(errs, fmt.Errorf("%d values found in the service's log or the probes", s.Leaks))
	}
	return errors.Join(errs...)
}

const (
	idpID     = "idp_FAKE0001"
	svcAcctID = "svc_FAKE0001"
	saSubject = "system:serviceaccount:ai:rag-api"
)

// Demo runs the service of the Deployment against in-process fakes: the
// API key and the projected service-account token in two folders written
// as the kubelet writes volumes, the OpenAI token endpoint (oauthfake) and
// the upstream APIs. Workers call the service's API and a prober calls
// /livez and /readyz, while the kubelet's "..data" swap replaces the key
// and the token c.Swaps times each.
func Demo(ctx context.Context, c DemoConfig) (st Stats, err error) {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Swaps <= 0 {
		c.Swaps = 10
	}
	if c.Mode == 0 {
		c.Mode = 0o400
	}
	root, err := os.MkdirTemp("", "credkit-k8s-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(root)
	keyVol := &KubeletVolume{Dir: filepath.Join(root, "model"), Mode: c.Mode}
	tokVol := &KubeletVolume{Dir: filepath.Join(root, "tokens"), Mode: c.Mode}
	for _, d := range []string{keyVol.Dir, tokVol.Dir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return st, err
		}
	}

	clk := fakeclock.New(time.Now().UTC().Truncate(time.Second))
	start := clk.Now()
	var values []string // every key and token, to hunt for in the logs
	keys := []string{newKey()}
	values = append(values, keys[0])
	if err := keyVol.Write(map[string]string{"api-key": keys[0]}); err != nil {
		return st, err
	}
	projected := func() string {
		now := clk.Now()
		t := oauthfake.JWT(oauthfake.Claims{Iss: "https://kubernetes.default.svc", Sub: saSubject, Aud: oauth2.OpenAIAudience,
			Iat: now.Unix(), Exp: now.Add(time.Hour).Unix()})
		values = append(values, t)
		return t
	}
	tok := projected()
	if err := tokVol.Write(map[string]string{"openai-token": tok}); err != nil {
		return st, err
	}

	tokens := oauthfake.New(clk, time.Hour, oauthfake.Expect{
		Grant: "urn:ietf:params:oauth:grant-type:token-exchange", JSON: true,
		SubjectTokenType: oauth2.TokenTypeJWT, SubjectAudience: oauth2.OpenAIAudience,
		Params: map[string]string{"identity_provider_id": idpID, "service_account_id": svcAcctID},
	})
	defer tokens.Close()
	rec := newSubjectRecorder(tokens.Config.Handler)
	defer rec.Close()
	api := newFakeAPI(tokens, clk)
	defer api.Close()
	api.accept(keys[0])

	var logBuf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	fedURL := federatedURL(strings.TrimPrefix(rec.URL, "http://"), filepath.Join(tokVol.Dir, "openai-token"))
	const healthToken = "FAKE-health-token-0123456789abcdef"
	values = append(values, healthToken)
	svc, err := NewService(ctx, Config{
		APIKeyURL: "file://" + keyVol.Dir + c.KeyURLQuery + "#api-key",
		ModelAPI:  api.URL, FederatedTokenURL: fedURL, OpenAIAPI: api.URL,
		HealthToken: healthToken, Logger: logger, Clock: clk,
		Client:        &http.Client{Timeout: 10 * time.Second},
		Options:       []rotate.Option{rotate.WithInterval(pollInterval, 0)}, // no jitter: the same steps every run
		CheckInterval: 2 * time.Second,                                       // RunNow after each swap; the timeout of a run is its interval
	})
	if err != nil {
		return st, err
	}
	defer svc.Close()
	web := httptest.NewServer(svc.Handler)
	defer web.Close()
	printf(c.Out, "service on %s; %d workers, %d swaps of the Secret and of the projected token (mode %#o)\n", web.URL, c.Workers, c.Swaps, c.Mode)

	events := make(chan rotate.Event, 4*c.Swaps+4)
	defer svc.Set.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotated {
			events <- e
		}
	})()

	// The checks start pending: like the kubelet, send no traffic and count
	// no probe before the pod is ready.
	if err := waitReady(ctx, web.Client(), web.URL, svc); err != nil {
		return st, err
	}

	// Workers: chat (API key) and embed (exchanged token), alternately.
	var requests, failed, probes, probeFailed atomic.Int64
	done := make([]atomic.Int64, c.Workers)
	progress := make(chan struct{}, 1)
	var stopping atomic.Bool
	var wg sync.WaitGroup
	client := web.Client()
	for w := 0; w < c.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopping.Load(); i++ {
				path := "/v1/chat"
				if i%2 == 1 {
					path = "/v1/embed"
				}
				resp, err := client.Post(web.URL+path, "application/json", strings.NewReader(`{"input":"hello"}`))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err == nil && resp.StatusCode == http.StatusOK {
					requests.Add(1)
				} else {
					failed.Add(1)
				}
				done[w].Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	// The kubelet's probes: no token, so the bare status.
	var probeBodies syncBuffer
	var firstProbeFailure atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stopping.Load() {
			for _, p := range []string{"/livez", "/readyz"} {
				resp, err := client.Get(web.URL + p)
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					_, _ = probeBodies.Write(body)
					resp.Body.Close()
				}
				if err == nil && resp.StatusCode == http.StatusOK {
					probes.Add(1)
				} else {
					probeFailed.Add(1)
					logger.Error("probe failed", "path", p, "err", err, "body", string(body))
					// What the checks said then, for the failure message.
					if n := probeFailed.Load(); n == 1 {
						var b strings.Builder
						fmt.Fprintf(&b, "%s answered %s", p, body)
						for _, v := range svc.Monitor.Results() {
							fmt.Fprintf(&b, "; %s: %s %s", v.Check.Name, v.Result.Status, v.Result.Output)
						}
						firstProbeFailure.Store(b.String())
					}
				}
			}
		}
	}()
	stopAll := func() { stopping.Store(true); wg.Wait() }
	defer stopAll()
	waitWorkers := func(n int64) error {
		target := make([]int64, len(done))
		for i := range done {
			target[i] = done[i].Load() + n
		}
		for {
			ok := true
			for i := range done {
				ok = ok && done[i].Load() >= target[i]
			}
			if ok {
				return nil
			}
			select {
			case <-progress:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	waitRotated := func(name, fp string) error {
		timeout := time.NewTimer(10 * time.Second)
		defer timeout.Stop()
		for {
			select {
			case e := <-events:
				if e.Name == name && e.NewFingerprint == fp {
					return nil
				}
			case <-timeout.C:
				return fmt.Errorf("%s: the swapped value was not picked up within 10 s", name)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	// detailFresh reads /readyz?verbose with the health token until both
	// credentials' checks say "fresh, version V; <mode>" with their current V.
	var probeDetail syncBuffer
	detailFresh := func() error {
		for _, n := range []string{apiKeyName, federatedName} {
			svc.Monitor.RunNow(n + ":credential")
		}
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			ok, err := readyDetail(client, web.URL, healthToken, svc.Set, &probeDetail)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("/readyz detail did not show the current versions fresh within 10 s: %s", lastDetail(&probeDetail))
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	// The fake clock: the Set's reminder loop, the file provider's batch
	// poll and the exchanged token's refresh wait on it.
	const timers = 3
	waitTimers := func() error {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if !clk.WaitTimers(wctx, timers) {
			return fmt.Errorf("the credentials did not re-arm their timers (%d armed, want %d)", clk.Timers(), timers)
		}
		return nil
	}
	if err := waitTimers(); err != nil {
		return st, err
	}
	if err := waitWorkers(2); err != nil {
		return st, err
	}

	for i := 0; i < c.Swaps; i++ {
		// The Secret: the operator added a new key upstream and updated the
		// Secret; the kubelet swaps the volume. Every other time the old key
		// is revoked at once, before the service has seen the swap: the
		// Transport's 401 → refresh → retry absorbs it.
		old := keys[len(keys)-1]
		k := newKey()
		keys, values = append(keys, k), append(values, k)
		api.accept(k)
		if err := keyVol.Write(map[string]string{"api-key": k}); err != nil {
			return st, err
		}
		st.KeySwaps++
		if i%2 == 0 {
			api.revoke(old)
		}
		if err := waitRotated(apiKeyName, credential.NewSecret(k).Fingerprint()); err != nil {
			return st, err
		}
		st.KeyRotations++
		if err := waitWorkers(2); err != nil {
			return st, err
		}
		api.revoke(old)
		if lk, _ := api.last(); lk == credential.NewSecret(k).Fingerprint() {
			st.KeyAfterSwap++
		}
		if err := detailFresh(); err != nil {
			return st, err
		}
		st.DetailChecks++

		// The projected token: the kubelet renews it at 80% of its life; the
		// next exchange (rotate refreshes the access token ahead of its
		// expiry, on the fake clock) presents the new one.
		t := projected()
		if err := tokVol.Write(map[string]string{"openai-token": t}); err != nil {
			return st, err
		}
		st.TokenSwaps++
		fed, _ := svc.Set.Credential(federatedName)
		before, _ := fed.Version()
		for {
			if clk.Now().Sub(start) > time.Duration(c.Swaps+1)*2*time.Hour {
				return st, errors.New("the exchanged token was never refreshed")
			}
			clk.AdvanceToNext()
			if err := waitTimers(); err != nil {
				return st, err
			}
			if v, _ := fed.Version(); v.ID != before.ID {
				break
			}
		}
		if seen := rec.presented(); len(seen) > 0 && seen[len(seen)-1] == credential.NewSecret(t).Fingerprint() {
			st.NewSubjectAfterSwap++
		}
		if err := waitWorkers(2); err != nil {
			return st, err
		}
		cur, _ := fed.Version()
		if _, lt := api.last(); lt == cur.Secret.Fingerprint() {
			st.TokenAfterSwap++
		}
		if err := detailFresh(); err != nil {
			return st, fmt.Errorf("%w; token endpoint refused: %v", err, tokens.Failures())
		}
		st.DetailChecks++
	}
	stopAll()
	st.FakeTime = clk.Now().Sub(start)
	st.Requests, st.Failed, st.Probes, st.ProbeFailed = requests.Load(), failed.Load(), probes.Load(), probeFailed.Load()
	st.Exchanges = len(rec.presented())
	api.mu.Lock()
	st.Rejected, st.DistinctKeysUsed = api.rejected, len(api.byKey)
	api.mu.Unlock()
	st.ServiceLog = logBuf.Bytes()
	seen := append(append(st.ServiceLog, probeBodies.Bytes()...), probeDetail.Bytes()...)
	// (the detail is the health token's view: it may name versions, never values)
	for _, v := range values {
		if bytes.Contains(seen, []byte(v)) {
			st.Leaks++
		}
	}
	printf(c.Out, "requests %d, failed %d, upstream 401s absorbed by refresh and retry %d; probes %d, failed %d; /readyz detail fresh after every swap %d\n",
		st.Requests, st.Failed, st.Rejected, st.Probes, st.ProbeFailed, st.DetailChecks)
	printf(c.Out, "API key: %d swaps, %d picked up, new key used upstream after %d, %d keys used in all\n",
		st.KeySwaps, st.KeyRotations, st.KeyAfterSwap, st.DistinctKeysUsed)
	printf(c.Out, "projected token: %d swaps over %v of fake time, %d exchanges, new token presented after %d, new access token used after %d\n",
		st.TokenSwaps, st.FakeTime, st.Exchanges, st.NewSubjectAfterSwap, st.TokenAfterSwap)
	printf(c.Out, "values in the service's log or the probes' bodies: %d\n", st.Leaks)
	if f, ok := firstProbeFailure.Load().(string); ok {
		printf(c.Out, "first failed probe: %s\n", f)
	}
	return st, nil
}

// waitReady waits (10 s at most) until /readyz answers 200.
func waitReady(ctx context.Context, client *http.Client, base string, svc *Service) error {
	for _, n := range []string{apiKeyName, federatedName} {
		svc.Monitor.RunNow(n + ":credential")
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz still answers %d after 10 s", resp.StatusCode)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// federatedURL is the oauth2:// URL of OpenAI's workload identity
// federation at the token endpoint host, with the projected token file as
// the subject.
func federatedURL(host, tokenFile string) string {
	q := url.Values{
		"grant": {"token_exchange"}, "preset": {"openai"},
		"subject":                    {"file://" + tokenFile},
		"param.identity_provider_id": {idpID}, "param.service_account_id": {svcAcctID},
	}
	return "oauth2://" + host + "/oauth/token?" + q.Encode()
}

// readyDetail reads /readyz?verbose with the health token and reports
// whether both credentials are reported fresh at their current version.
func readyDetail(client *http.Client, base, token string, set *rotate.Set, sink io.Writer) (bool, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/readyz?verbose", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	_, _ = sink.Write(b)
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("/readyz answered %d: %s", resp.StatusCode, b)
	}
	var body struct {
		Checks map[string][]struct {
			Status string `json:"status"`
			Output string `json:"output"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return false, err
	}
	for _, n := range []string{apiKeyName, federatedName} {
		c, _ := set.Credential(n)
		v, _ := c.Version()
		cs := body.Checks[n+":credential"]
		// "fresh, version V; polling every 15m0s": the check also says how
		// the credential learns of changes.
		if len(cs) != 1 || cs[0].Status != "pass" || !strings.HasPrefix(cs[0].Output, "fresh, version "+v.ID+";") {
			return false, nil
		}
	}
	return true, nil
}

// newKey returns an obviously fake API key in the usual shape.
func newKey() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return "sk-proj-FAKE" + hex.EncodeToString(b)
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

// printf writes to w when it is not nil.
func printf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

func lastDetail(b *syncBuffer) string {
	all := b.Bytes()
	if i := bytes.LastIndex(all, []byte(`{"status"`)); i >= 0 {
		return string(all[i:])
	}
	return ""
}
