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
	"sort"
	"strings"
	"time"

	chromem "github.com/philippgille/chromem-go"

	"github.com/credkit/credkit/health"
)

// Obviously fake values in the real formats.
const (
	fakeKey         = "sk-proj-FAKEragXvKwJqYzPxWvQkZjXyVqWzKxJvGq"
	fakeHealthToken = "FAKE-Qx7Wm2Kp9Zt4Vb8NrJ5Hc3Ld6"
)

// corpus is what the demo indexes.
var corpus = []Doc{
	{"rotation", "Rotate an API key by writing the new key to the secret file; credkit picks it up without a restart."},
	{"revoke", "Revoke a leaked key with the kill switch: every request fails at once until it is restored."},
	{"redact", "Logs pass through the redacting handler, which removes every key value the set holds."},
	{"breaker", "A circuit breaker opens when a model API keeps failing, and fails fast until a probe succeeds."},
	{"queue", "Requests that can wait are queued while the model is down and run when it recovers."},
	{"readiness", "Readiness warns for a shared model API and fails only for what the replica owns."},
	{"fallback", "A fallback chain answers from another model when the first one is down."},
	{"cache", "The embedding cache serves vectors of texts it has seen, never across models or dimensions."},
}

// Stats are the figures the demo prints and the test checks.
type Stats struct {
	Requests, Failed int
	Markers          map[string]int // fresh, cached, stale, fallback, queued: per step served
	API              map[string]Calls
	Documents        int
	Queued, Drained  int
	Ready            map[string]int // /readyz status code per phase
	Checks           map[string]map[string]string
	KeyInLog         bool
}

// Check fails unless the run showed every degraded mode.
func (s Stats) Check() error {
	for _, m := range []string{"fresh", "cached", "stale", "fallback", "queued"} {
		if s.Markers[m] == 0 {
			return fmt.Errorf("no %s answer", m)
		}
	}
	if s.KeyInLog {
		return errors.New("the key reached the log")
	}
	return nil
}

type demo struct {
	out    io.Writer
	url    string
	client *http.Client
	st     *Stats
}

// ask posts a question and prints what came back.
func (d *demo) ask(ctx context.Context, q string) (Answer, int, error) {
	var a Answer
	code, err := d.post(ctx, "/v1/ask", map[string]string{"question": q}, &a)
	if err != nil {
		return a, 0, err
	}
	if code == http.StatusOK {
		for _, m := range []string{a.Embedding, a.Search, a.Chat} {
			d.st.Markers[m]++
		}
		fmt.Fprintf(d.out, "ask %-34q -> 200 embedding=%s search=%s chat=%s (%s) sources=%v\n", q, a.Embedding, a.Search, a.Chat, a.Model, a.Sources)
	} else {
		fmt.Fprintf(d.out, "ask %-34q -> %d %s\n", q, code, a.Text)
	}
	return a, code, nil
}

// ingest posts documents.
func (d *demo) ingest(ctx context.Context, docs []Doc) (string, int, error) {
	var r struct{ Marker string }
	code, err := d.post(ctx, "/v1/documents", map[string]any{"documents": docs}, &r)
	if err != nil {
		return "", 0, err
	}
	if code/100 == 2 {
		d.st.Markers[r.Marker]++
	}
	fmt.Fprintf(d.out, "add %d docs -> %d %s\n", len(docs), code, r.Marker)
	return r.Marker, code, nil
}

func (d *demo) post(ctx context.Context, path string, body, into any) (int, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	d.st.Requests++
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		d.st.Failed++
		var e struct{ Error string }
		json.Unmarshal(raw, &e)
		if a, ok := into.(*Answer); ok {
			a.Text = e.Error
		}
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.Unmarshal(raw, into)
}

// readyz runs the checks and prints /readyz?verbose in one line.
func (d *demo) readyz(ctx context.Context, svc *Service, phase string) error {
	if err := svc.RunChecks(ctx); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/readyz?verbose", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+fakeHealthToken)
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Checks map[string][]struct{ Status, Output string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	checks := map[string]string{}
	var notes []string
	for k, cs := range body.Checks {
		for _, c := range cs {
			checks[k] = c.Status
			if c.Status != "pass" {
				notes = append(notes, k+"="+c.Status)
			}
		}
	}
	sort.Strings(notes)
	d.st.Ready[phase], d.st.Checks[phase] = resp.StatusCode, checks
	fmt.Fprintf(d.out, "GET /readyz -> %d %s %v\n", resp.StatusCode, body.Status, notes)
	return nil
}

// waitBreakers waits until no breaker is open: the time each one says.
func waitBreakers(ctx context.Context, svc *Service) error {
	for _, br := range svc.breakers() {
		if at := br.RetryAt(); !at.IsZero() {
			t := time.NewTimer(time.Until(at))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	return nil
}

// Demo runs the service offline against the fake API and plays the
// outages: the embedding API down, the primary chat model down, the vector
// store unavailable. It prints each request and the figures.
func Demo(ctx context.Context, out, logOut io.Writer) (st Stats, err error) {
	st = Stats{Markers: map[string]int{}, Ready: map[string]int{}, Checks: map[string]map[string]string{}}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "credkit-rag")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "openai")
	tokenFile := filepath.Join(dir, "health-token")
	if err := os.WriteFile(keyFile, []byte(fakeKey+"\n"), 0o600); err != nil {
		return st, err
	}
	if err := os.WriteFile(tokenFile, []byte(fakeHealthToken+"\n"), 0o600); err != nil {
		return st, err
	}
	var logs bytes.Buffer
	set, logger, closeKeys, err := Keys(ctx, "file://"+keyFile, "file://"+tokenFile, io.MultiWriter(&logs, logOut))
	if err != nil {
		return st, err
	}
	defer closeKeys()
	key, err := set.Credential("openai")
	if err != nil {
		return st, err
	}
	api := NewFakeAPI(fakeKey)
	defer api.Close()

	db, err := chromem.NewPersistentDB(filepath.Join(dir, "vectors"), false)
	if err != nil {
		return st, err
	}
	chrom, err := NewChromemStore(db)
	if err != nil {
		return st, err
	}
	store := &Gate{Store: chrom}
	svc, err := NewService(Config{BaseURL: api.BaseURL(), Key: key, Store: store,
		EmbeddingModel: embeddingModel, ChatModels: []string{chatPrimary, chatFallback},
		Logger: logger, HealthToken: fakeHealthToken,
		Checks: health.SetChecks(set, health.CredentialOptions{}),
		Tuning: Tuning{Attempts: 2, Backoff: time.Millisecond, Max: 5 * time.Millisecond, BreakerMinVolume: 4, OpenFor: 500 * time.Millisecond}})
	if err != nil {
		return st, err
	}
	defer svc.Close()
	srv := httptest.NewServer(svc)
	defer srv.Close()
	d := &demo{out: out, url: srv.URL, client: srv.Client(), st: &st}

	fmt.Fprintln(out, "== all up")
	if _, _, err := d.ingest(ctx, corpus); err != nil {
		return st, err
	}
	for _, q := range []string{"How do I rotate a key?", "What happens when a model is down?"} {
		if _, _, err := d.ask(ctx, q); err != nil {
			return st, err
		}
	}
	if err := d.readyz(ctx, svc, "up"); err != nil {
		return st, err
	}

	fmt.Fprintln(out, "== embedding API down: known texts from the cache, new documents queued")
	api.SetEmbeddingDown(true)
	for _, q := range []string{"How do I rotate a key?", "Who can read the logs?"} {
		if _, _, err := d.ask(ctx, q); err != nil {
			return st, err
		}
	}
	late := []Doc{{"audit", "The usage audit counts requests per key and flags a key used from a new place."}}
	if _, _, err := d.ingest(ctx, late); err != nil {
		return st, err
	}
	st.Queued = len(late)
	if err := d.readyz(ctx, svc, "embedding down"); err != nil {
		return st, err
	}
	api.SetEmbeddingDown(false)
	if st.Drained, err = svc.WaitIngested(ctx); err != nil {
		return st, err
	}
	fmt.Fprintf(out, "embedding API back: %d queued document stored\n", st.Drained)
	if _, _, err := d.ask(ctx, "Which key was used from a new place?"); err != nil {
		return st, err
	}

	fmt.Fprintln(out, "== chat model "+chatPrimary+" down: "+chatFallback+" answers")
	if err := waitBreakers(ctx, svc); err != nil {
		return st, err
	}
	api.SetModelDown(chatPrimary, true)
	for _, q := range []string{"What does the breaker do?", "How do I revoke a leaked key?", "What happens when a model is down?"} {
		if _, _, err := d.ask(ctx, q); err != nil {
			return st, err
		}
	}
	if err := d.readyz(ctx, svc, "chat down"); err != nil {
		return st, err
	}
	api.SetModelDown(chatPrimary, false)

	fmt.Fprintln(out, "== vector store unavailable: last good results, marked stale")
	if err := waitBreakers(ctx, svc); err != nil {
		return st, err
	}
	store.SetDown(true)
	for _, q := range []string{"How do I rotate a key?", "Is the cache shared across models?"} {
		if _, _, err := d.ask(ctx, q); err != nil {
			return st, err
		}
	}
	if err := d.readyz(ctx, svc, "store down"); err != nil {
		return st, err
	}
	store.SetDown(false)
	if err := waitBreakers(ctx, svc); err != nil {
		return st, err
	}
	if _, _, err := d.ask(ctx, "How do I rotate a key?"); err != nil {
		return st, err
	}

	st.API = api.Calls()
	st.Documents = chrom.Count()
	st.KeyInLog = strings.Contains(logs.String(), strings.TrimPrefix(fakeKey, "sk-proj-")) ||
		strings.Contains(logs.String(), fakeHealthToken)
	fmt.Fprintln(out, "== figures")
	fmt.Fprintf(out, "requests %d, failed %d; markers fresh %d, cached %d, stale %d, fallback %d, queued %d; documents %d (queued %d, stored after recovery %d)\n",
		st.Requests, st.Failed, st.Markers["fresh"], st.Markers["cached"], st.Markers["stale"], st.Markers["fallback"], st.Markers["queued"],
		st.Documents, st.Queued, st.Drained)
	var names []string
	for k := range st.API {
		names = append(names, k)
	}
	sort.Strings(names)
	var calls []string
	for _, k := range names {
		calls = append(calls, fmt.Sprintf("%s %d ok / %d failed", k, st.API[k].OK, st.API[k].Failed))
	}
	fmt.Fprintf(out, "API calls: %s; key in logs %v\n", strings.Join(calls, ", "), st.KeyInLog)
	return st, nil
}
