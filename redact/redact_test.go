package redact_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/redact"
)

// TestMain checks that no test leaves a goroutine behind (TestTrackRotateSet
// runs a real rotate.Set).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// known is a fake key in OpenAI's project key format, spelled so that no
// detector would match it on its own without the "sk-" prefix.
const known = "sk-proj-FAKEkwQzXvKwJqYzPxWvQkZjXyVqWzKxJvGq0"

// forms are the encodings a known value must be caught in.
func forms(v string) map[string]string {
	jsonEsc, _ := json.Marshal(v)
	return map[string]string{
		"raw":        v,
		"base64 std": base64.StdEncoding.EncodeToString([]byte(v)),
		"base64 raw": base64.RawStdEncoding.EncodeToString([]byte(v)),
		"base64 url": base64.URLEncoding.EncodeToString([]byte(v)),
		"hex":        hex.EncodeToString([]byte(v)),
		"HEX":        strings.ToUpper(hex.EncodeToString([]byte(v))),
		"query":      url.QueryEscape(v),
		"json":       string(jsonEsc[1 : len(jsonEsc)-1]),
	}
}

// leaked names the first form of secret found in out, or "".
func leaked(out, secret string) string {
	for name, f := range forms(secret) {
		if strings.Contains(out, f) {
			return name
		}
	}
	return ""
}

func noLeak(t *testing.T, what, out, secret string) {
	t.Helper()
	if f := leaked(out, secret); f != "" {
		t.Fatalf("%s: the secret leaked in its %s form (output %d bytes)", what, f, len(out))
	}
}

func newR(t *testing.T, opts ...redact.Option) *redact.Redactor {
	r := redact.New(opts...)
	require.NoError(t, r.Add("openai", credential.NewSecret(known)))
	return r
}

func TestKnownValueInEveryEncoding(t *testing.T) {
	// A value no detector knows: only the known-value matcher can catch it.
	const v = "FAKE-db-password-Zq7Wv9Kx"
	r := redact.New()
	require.NoError(t, r.Add("db", credential.NewSecret(v)))
	for name, f := range forms(v) {
		out := r.String("before " + f + " after")
		assert.True(t, out == "before [REDACTED] after", "%s form not replaced exactly (leak: %q)", name, leaked(out, v))
	}
	// Inside the base64 of a longer text, at every alignment.
	for pre := 0; pre < 3; pre++ {
		text := strings.Repeat("x", pre) + "user:" + v + ":tail"
		enc := base64.StdEncoding.EncodeToString([]byte(text))
		out := r.String("Authorization: Basic " + enc)
		assert.False(t, strings.Contains(out, enc), "base64 with %d leading bytes was not redacted", pre)
	}
	assert.Equal(t, "nothing here", r.String("nothing here"))

	r.Remove(credential.NewSecret(v))
	assert.False(t, r.Contains("x "+v), "after Remove the value is no longer known")
}

func TestAddRefusesShortValues(t *testing.T) {
	r := redact.New()
	err := r.Add("pin", credential.NewSecret("1234567"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, redact.ErrTooShort))
	assert.True(t, errors.Is(err, credential.ErrInvalid))
	assert.False(t, strings.Contains(err.Error(), "1234567"), "the refused value is in the error")
	assert.Error(t, r.Add("empty", credential.Secret{}))
	assert.Equal(t, 0, r.Len())
}

// source is an in-test credential.SecretSource.
type source struct {
	mu   sync.Mutex
	vals map[string]credential.Secret
	fns  []func()
}

func (s *source) Secrets(yield func(string, credential.Secret) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.vals {
		if !yield(k, v) {
			return
		}
	}
}

func (s *source) OnChange(f func()) func() {
	s.mu.Lock()
	s.fns = append(s.fns, f)
	i := len(s.fns) - 1
	s.mu.Unlock()
	return func() { s.mu.Lock(); s.fns[i] = nil; s.mu.Unlock() }
}

func (s *source) set(name, v string) {
	s.mu.Lock()
	if v == "" {
		delete(s.vals, name)
	} else {
		s.vals[name] = credential.NewSecret(v)
	}
	fns := append([]func(){}, s.fns...)
	s.mu.Unlock()
	for _, f := range fns {
		if f != nil {
			f()
		}
	}
}

func TestTrack(t *testing.T) {
	const a, b = "FAKE-aaaa-Qw7Zk2Lp9Xv", "FAKE-bbbb-Mn4Tr8Jd1Hs"
	src := &source{vals: map[string]credential.Secret{"x": credential.NewSecret(a)}}
	r := redact.New()
	stop := r.Track(src)
	assert.False(t, r.Contains("y "+b))
	assert.True(t, r.Contains("y "+a))
	src.set("x-prev", a)
	src.set("x", b) // rotated: both during the overlap
	assert.True(t, r.Contains(a) && r.Contains(b))
	src.set("x-prev", "") // overlap over: the old value is dropped
	assert.False(t, r.Contains("z "+a))
	assert.True(t, r.Contains(b))
	stop()
	stop()
	assert.False(t, r.Contains("z "+b), "stop forgets the source's values")
}

func TestDetectorsTruePositives(t *testing.T) {
	cases := map[string]string{
		"openai project":      "sk-proj-FAKE1a2b3c4d5e6f7g8h9i0jT3BlbkFJk1l2m3n4o5p6q7r8s9t0",
		"openai legacy":       "sk-FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9",
		"openai svcacct":      "sk-svcacct-FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n",
		"openai admin":        "sk-admin-FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n",
		"anthropic":           "sk-ant-api03-FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t-FAKEAA",
		"anthropic admin":     "sk-ant-admin01-FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t",
		"google":              "AIzaSyFAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5",
		"huggingface":         "hf_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o",
		"huggingface org":     "api_org_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n",
		"groq":                "gsk_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v",
		"replicate":           "r8_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p",
		"perplexity":          "pplx-FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v",
		"xai":                 "xai-FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v3w4x",
		"openrouter":          "sk-or-v1-FAKE1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1",
		"pinecone":            "pcsk_FAKE1a_2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v3w4x",
		"together":            "tgp_v1_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p",
		"nvidia":              "nvapi-FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v",
		"langsmith":           "lsv2_pt_0123456789abcdef0123456789abcdef_0123456789",
		"aws access key":      "AKIAFAKEFAKEFAKE2345",
		"aws session key":     "ASIAFAKEFAKEFAKE7777",
		"bedrock":             "ABSKFAKEQmVkcm9ja0FQSUtleS1GQUtFRkFLRQ==",
		"github classic":      "ghp_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p",
		"github oauth":        "gho_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p",
		"github app":          "ghs_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p",
		"github fine":         "github_pat_11FAKE0000_FAKE1a2b3c4d5e6f7g8h9i0j",
		"slack bot":           "xoxb-0000000000-FAKE1a2b3c4d5e6f",
		"slack app":           "xapp-1-A0000FAKE-0000-FAKE1a2b3c4d",
		"slack webhook":       "https://hooks.slack.com/services/T00000000/B00000000/FAKE1a2b3c4d5e6f7g8h9i0j",
		"stripe live":         "sk_live_FAKE1a2b3c4d5e6f7g8h9i0j1k",
		"stripe test":         "sk_test_FAKE1a2b3c4d5e6f7g8h9i0j1k",
		"stripe restricted":   "rk_live_FAKE1a2b3c4d5e6f7g8h9i0j1k",
		"jwt":                 "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlIn0.FAKEsignatureFAKEsignature",
		"pem":                 "-----BEGIN PRIVATE KEY-----\nMIIFAKEFAKEFAKE\n-----END PRIVATE KEY-----",
		"pem rsa":             "-----BEGIN RSA PRIVATE KEY-----\nMIIFAKE\n-----END RSA PRIVATE KEY-----",
		"authorization":       "Authorization: Bearer FAKEtoken0123456789abcdef",
		"authorization json":  `"authorization":"Basic RkFLRTpGQUtFcGFzc3dvcmQ="`,
		"bearer":              "Bearer FAKE0123456789abcdefghijkl",
		"BEARER":              "BEARER FAKE0123456789abcdefghijkl",
		"http2 authorization": "authorization: bearer FAKE0123456789abcdefghijkl",
		"x-api-key":           "x-api-key: FAKE0123456789abcdef",
		"apikey header":       "apikey: FAKE0123456789abcdef",
		"apikey json":         `{"apikey":"FAKE0123456789abcdef"}`,
		"apiKey":              "apiKey=FAKE0123456789abcdef",
		"api-key azure":       "api-key=FAKE0123456789abcdef",
		"url password":        "https://admin:FAKEp4ssw0rd@internal.example.com/path",
		"postgres":            "postgres://app:FAKEp4ssw0rd@db.example.com:5432/app?sslmode=require",
		"mysql":               "mysql://root:FAKEp4ssw0rd@tcp(db:3306)/app",
		"mongodb":             "mongodb+srv://app:FAKEp4ssw0rd@cluster0.example.mongodb.net/db",
		"redis":               "redis://:FAKEp4ssw0rd@cache.example.com:6379/0",
		"jdbc":                "jdbc:sqlserver://db.example.com:1433;databaseName=app;user=app;password=FAKEp4ssw0rd",
		"sqlserver":           "Server=db;Database=app;User Id=app;Password=FAKEp4ssw0rd;",
		"query key":           "https://generativelanguage.googleapis.com/v1/models?key=FAKE0123456789",
		"query token":         "https://api.example.com/v1?foo=1&access_token=FAKE0123456789",
		"query sig":           "https://bucket.s3.amazonaws.com/o?X-Amz-Signature=0123456789abcdefFAKE&X-Amz-Expires=60",
	}
	r := redact.New(redact.WithReasons())
	// Short texts are scanned byte by byte, long ones with one IndexByte
	// pass per anchor byte: both must find every format.
	prose := strings.Repeat("Summarize the ticket below in three bullet points, then propose a reply. ", 5)
	for name, secret := range cases {
		for _, text := range []string{"log: " + secret + " end", prose + secret + " " + prose} {
			out := r.String(text)
			assert.True(t, strings.Contains(out, "[REDACTED:"), "%s: nothing redacted in %d bytes", name, len(text))
			assert.False(t, strings.Contains(out, "FAKE"), "%s: part of the token is left in %d bytes", name, len(text))
		}
	}
}

func TestBenignCorpusIsUntouched(t *testing.T) {
	corpus := []string{
		"550e8400-e29b-41d4-a716-446655440000",
		"commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		base64.StdEncoding.EncodeToString([]byte("The quick brown fox jumps over the lazy dog")),
		"The model returned a summary of the risk-management framework for the support team.",
		"We ask the user for their name, then summarize the task-list with max_tokens=512 and temperature=0.2.",
		"func (s *Server) handle(w http.ResponseWriter, r *http.Request) { s.mu.Lock(); defer s.mu.Unlock() }",
		"GET https://api.openai.com/v1/models?limit=20&order=desc HTTP/1.1",
		"https://example.com/search?q=vector+databases&page=2",
		"2026-11-25T09:00:00Z level=INFO msg=\"request done\" status=200 duration=1.5ms",
		"AKIA is the prefix of AWS access key ids; ASIA of temporary ones.",
		"basic authentication is disabled; bearer tokens only",
		"prompt_tokens=1200 completion_tokens=340 total_tokens=1540",
		"skills: sk-learn, scikit",
		"eyes on the keyboard",
	}
	r := newR(t)
	prose := strings.Repeat("Summarize the ticket below in three bullet points, then propose a reply. ", 5)
	for _, text := range corpus {
		assert.Equal(t, text, r.String(text), "benign text was changed")
		long := prose + text + prose
		assert.Equal(t, long, r.String(long), "benign text was changed inside prose")
	}
}

func TestWithoutDetectorsAndCustom(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlIn0.FAKEsignatureFAKEsignature"
	r := redact.New(redact.WithoutDetectors("jwt"))
	assert.Equal(t, jwt, r.String(jwt))
	none := redact.New(redact.WithoutDetectors())
	assert.Equal(t, "ghp_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p", none.String("ghp_FAKE1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p"))
	custom := redact.New(redact.WithDetectors(redact.Detector{Name: "acme", Keywords: []string{"acme_"}, Pattern: regexpMust(`acme_[0-9a-z]{16}`)}), redact.WithReasons())
	assert.Equal(t, "key [REDACTED:acme]", custom.String("key acme_0123456789abcdef"))
}

func TestError(t *testing.T) {
	r := newR(t)
	base := fmt.Errorf("call failed with key %s: %w", known, context.DeadlineExceeded)
	err := r.Error(base)
	noLeak(t, "Error()", err.Error(), known)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	assert.Nil(t, r.Error(nil))
}

// TestURLErrorComesOutClean: net/http quotes the whole URL, query and all.
func TestURLErrorComesOutClean(t *testing.T) {
	r := newR(t)
	_, err := http.Get("http://127.0.0.1:1/v1/models?key=" + known)
	require.Error(t, err)
	var buf bytes.Buffer
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	logger.Error("request failed", "err", err)
	logger.Error("request failed: " + err.Error())
	noLeak(t, "url.Error", buf.String(), known)
	assert.Contains(t, buf.String(), "127.0.0.1:1")
}

type valuer struct{ v string }

func (v valuer) LogValue() slog.Value { return slog.StringValue("via valuer " + v.v) }

type config struct {
	Endpoint string
	APIKey   string
	inner    string
}

type stringer struct{ key string }

func (s stringer) String() string { return "stringer(" + s.key + ")" }

func TestHandlerRedactsEveryShape(t *testing.T) {
	for name, mk := range map[string]func(io.Writer) slog.Handler{
		"json": func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) },
		"text": func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			r := newR(t)
			var buf bytes.Buffer
			l := slog.New(redact.NewHandler(mk(&buf), r))
			l.Info("key is " + known)
			l.Info("attr", "k", known, "n", 3)
			l.With("pre", known).Info("with")
			l.WithGroup("g").With("pre", known).Info("grouped", slog.Group("a", slog.Group("b", "deep", known)))
			l.Info("valuer", "v", valuer{known})
			l.Info("error", "err", fmt.Errorf("wrapped: %w", errors.New("key="+known)))
			l.Info("struct", "cfg", config{Endpoint: "https://api", APIKey: known, inner: known})
			l.Info("pointer", "cfg", &config{APIKey: known})
			l.Info("map", "m", map[string]any{"nested": []string{"x", known}})
			l.Info("slice", "s", []any{1, known})
			l.Info("bytes", "b", []byte("raw "+known))
			l.Info("stringer", "s", stringer{known})
			l.Info("secret", "s", credential.NewSecret(known))
			l.Info("sensitive keys", "password", "hunter2hunter2", "openai_api_key", 12345678, "Authorization", "whatever")
			out := buf.String()
			noLeak(t, name, out, known)
			assert.False(t, strings.Contains(out, "hunter2hunter2"), "a sensitive key's value leaked")
			assert.False(t, strings.Contains(out, "12345678"), "a sensitive key's value leaked")
			assert.Contains(t, out, "[REDACTED]")
			assert.Contains(t, out, "https://api", "clean parts of a redacted struct stay readable")
			assert.Equal(t, 1, strings.Count(strings.Split(out, "\n")[2], "pre"), "WithAttrs attributes are emitted once")
		})
	}
}

func TestHandlerPassesCleanRecordsAsTheyAre(t *testing.T) {
	r := newR(t)
	var buf1, buf2 bytes.Buffer
	bare := slog.New(slog.NewJSONHandler(&buf1, nil))
	wrapped := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf2, nil), r))
	for _, l := range []*slog.Logger{bare, wrapped} {
		l.Info("clean", "model", "gpt-fake", "tokens", 42, slog.Group("g", "a", 1))
	}
	strip := func(s string) string { return s[strings.Index(s, `"level"`):] }
	assert.Equal(t, strip(buf1.String()), strip(buf2.String()))
}

func TestSlogtest(t *testing.T) {
	var buf bytes.Buffer
	h := redact.NewHandler(slog.NewJSONHandler(&buf, nil), newR(t))
	results := func() []map[string]any {
		var ms []map[string]any
		for _, line := range bytes.Split(buf.Bytes(), []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal(line, &m))
			ms = append(ms, m)
		}
		return ms
	}
	require.NoError(t, slogtest.TestHandler(h, results))
}

func TestDefaultHandlerTrapIsAvoided(t *testing.T) {
	var logged bytes.Buffer
	oldOut := log.Writer()
	log.SetOutput(&logged)
	defer log.SetOutput(oldOut)
	h := redact.NewHandler(slog.Default().Handler(), newR(t))
	old := slog.Default()
	defer slog.SetDefault(old)
	slog.SetDefault(slog.New(h))
	done := make(chan struct{})
	go func() {
		slog.Info("no deadlock")
		close(done)
	}()
	<-done
	assert.Contains(t, logged.String(), "no deadlock", "records reach the log package's output")
}

func TestWriterSplitAtEveryOffset(t *testing.T) {
	r := newR(t)
	line := "request with key " + known + " failed\n"
	for i := 0; i <= len(line); i++ {
		var out bytes.Buffer
		w := r.Writer(&out)
		n, err := w.Write([]byte(line[:i]))
		require.NoError(t, err)
		require.Equal(t, i, n)
		_, err = w.Write([]byte(line[i:]))
		require.NoError(t, err)
		require.NoError(t, w.Flush())
		if f := leaked(out.String(), known); f != "" {
			t.Fatalf("split at %d: leaked in %s form", i, f)
		}
		require.Equal(t, "request with key [REDACTED] failed\n", out.String(), "split at %d", i)
	}
	var out bytes.Buffer
	w := r.Writer(&out)
	fmt.Fprint(w, "no newline "+known)
	assert.Empty(t, out.String(), "a partial line is held")
	require.NoError(t, w.Close())
	assert.Equal(t, "no newline [REDACTED]", out.String())
}

// TestCleanTextAllocatesNothing: String, Bytes and Contains return a
// text with nothing to redact without allocating, short or long, as their
// docs say.
func TestCleanTextAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race sync.Pool drops what is put back: the counts are not the program's")
	}
	r := redactorWith(t, 10)
	for _, s := range []string{"gpt-4o-mini", "req_01FAKEabcdefghijklmnopqr", prompt, codeText, linksText, jsonText} {
		b := []byte(s)
		allocs := testing.AllocsPerRun(50, func() {
			if r.String(s) != s || len(r.Bytes(b)) != len(b) || r.Contains(s) {
				t.Error("a clean text was changed")
			}
		})
		assert.Zero(t, allocs, "allocations to check a clean %d-byte text", len(s))
	}
}
