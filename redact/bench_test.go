package redact_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/redact"
)

// fakeKeys returns n distinct key-shaped values.
func fakeKeys(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	const alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	out := make([]string, n)
	for i := range out {
		b := make([]byte, 40)
		for j := range b {
			b[j] = alpha[rng.IntN(len(alpha))]
		}
		out[i] = "sk-proj-FAKE" + string(b)
	}
	return out
}

func redactorWith(b testing.TB, n int) *redact.Redactor {
	r := redact.New()
	if n == 0 {
		return r
	}
	vals := map[string]credential.Secret{}
	for i, k := range fakeKeys(n) {
		vals[fmt.Sprint("k", i)] = credential.NewSecret(k)
	}
	if err := r.AddAll(vals); err != nil {
		b.Fatal(err)
	}
	return r
}

func repeatTo(p string, n int) string { return strings.Repeat(p, n/len(p)+1)[:n] }

// The texts of the benchmarks: 2 KiB of each kind a prompt holds, and a
// 32 KiB prompt.
var (
	prompt = repeatTo("You are a support assistant for an online store. Summarize the customer's ticket below in three bullet points, "+
		"then propose a reply that is polite, short and specific. Do not invent order numbers or policies. ", 2048)
	codeText = repeatTo(`func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	token := r.Header.Get("Authorization")
	if token == "" { http.Error(w, "missing token", 401); return }
	q := r.URL.Query(); limit, _ := strconv.Atoi(q.Get("limit")); opts := map[string]any{"limit": limit, "order": "desc"}
	for i := 0; i < len(items); i++ { if items[i].ID == id { return items[i], nil } }
	x := a == b && c != d || e <= f; y := fmt.Sprintf("%s=%d", key, val)
}
`, 2048)
	linksText = repeatTo("See https://docs.example.com/guide/install?version=2&lang=en#setup and https://github.com/org/repo/blob/main/README.md, "+
		"also http://localhost:8080/api/v1/items?page=3&size=50&sort=name and https://cdn.example.com/a/b/c.png?w=640&h=480 . ", 2048)
	jsonText = repeatTo(`{"id":"chatcmpl-9xFAKE","object":"chat.completion","created":1732500000,"model":"gpt-4o-mini",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Here is the summary: the order shipped late."},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":512,"completion_tokens":128,"total_tokens":640}},`, 2048)
	prompt32 = repeatTo(prompt+codeText+linksText+jsonText, 32<<10)
)

// requestIDs are the request IDs of the benchmark records, one per record
// in turn: like a real log's, no two records in a row share one, so no
// cache of values seen before can make them cheaper than they are.
var (
	requestIDs = func() []string {
		rng := rand.New(rand.NewPCG(3, 4))
		const alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		out := make([]string, 1<<14)
		for i := range out {
			b := []byte("req_01") // an ID, not a secret: random, no FAKE mark
			for range 22 {
				b = append(b, alpha[rng.IntN(len(alpha))])
			}
			out[i] = string(b)
		}
		return out
	}()
	nextID atomic.Uint32
)

// record logs a typical AI-app record: a message and 8 attributes, one the
// text.
func record(l *slog.Logger, ctx context.Context, text string) {
	l.LogAttrs(ctx, slog.LevelInfo, "chat completion",
		slog.String("model", "gpt-4o-mini"),
		slog.String("request_id", requestIDs[nextID.Add(1)%uint32(len(requestIDs))]),
		slog.Int("prompt_tokens", 512),
		slog.Int("completion_tokens", 128),
		slog.Duration("latency", 840*time.Millisecond),
		slog.String("user", "user-4242"),
		slog.Bool("cached", false),
		slog.String("prompt", text),
	)
}

type usage struct {
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
	Model            string `json:"model"`
}

// handlers are the rows of the side-by-side table: the bare JSON handler,
// credkit, and a hand-written ReplaceAttr that redacts by key and by a few
// prefixes (what a user writes instead).
func handlers(r *redact.Redactor) []struct {
	name string
	l    *slog.Logger
} {
	replace := func(_ []string, a slog.Attr) slog.Attr {
		switch strings.ToLower(a.Key) {
		case "password", "api_key", "apikey", "token", "authorization", "secret":
			return slog.String(a.Key, "[REDACTED]")
		}
		if a.Value.Kind() == slog.KindString {
			s := a.Value.String()
			for _, p := range []string{"sk-", "AKIA", "ghp_", "xoxb-", "AIza"} {
				if strings.Contains(s, p) {
					return slog.String(a.Key, "[REDACTED]")
				}
			}
		}
		return a
	}
	return []struct {
		name string
		l    *slog.Logger
	}{
		{"bare", slog.New(slog.NewJSONHandler(io.Discard, nil))},
		{"credkit", slog.New(redact.NewHandler(slog.NewJSONHandler(io.Discard, nil), r))},
		{"replaceattr", slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{ReplaceAttr: replace}))},
	}
}

// BenchmarkHandler is the side-by-side table: each kind of record through
// the bare JSON handler, credkit's Handler (every detector, one known
// value) and a hand-written ReplaceAttr, interleaved in one run.
func BenchmarkHandler(b *testing.B) {
	ctx := context.Background()
	r := redactorWith(b, 1)
	known := fakeKeys(1)[0]
	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"typical-2KiB-prose", func(l *slog.Logger) { record(l, ctx, prompt) }},
		{"code-2KiB", func(l *slog.Logger) { record(l, ctx, codeText) }},
		{"links-2KiB", func(l *slog.Logger) { record(l, ctx, linksText) }},
		{"json-2KiB", func(l *slog.Logger) { record(l, ctx, jsonText) }},
		{"prompt-32KiB", func(l *slog.Logger) { record(l, ctx, prompt32) }},
		{"known-value", func(l *slog.Logger) { record(l, ctx, prompt[:1024]+" key="+known+" "+prompt[:1000]) }},
		{"two-Any", func(l *slog.Logger) {
			l.LogAttrs(ctx, slog.LevelInfo, "usage", slog.String("model", "gpt-4o-mini"),
				slog.Any("usage", usage{512, 128, "gpt-4o-mini"}),
				slog.Any("params", map[string]any{"temperature": 0.2, "top_p": 1, "stream": false}))
		}},
	}
	for _, c := range cases {
		for _, h := range handlers(r) {
			b.Run(c.name+"/"+h.name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					c.log(h.l)
				}
			})
		}
	}
}

// BenchmarkHandlerKnownValues is the typical record with 1 to 10,000
// known values.
func BenchmarkHandlerKnownValues(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("values-%d", n), func(b *testing.B) {
			l := slog.New(redact.NewHandler(slog.NewJSONHandler(io.Discard, nil), redactorWith(b, n)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				record(l, ctx, prompt)
			}
		})
	}
}

// BenchmarkString measures Redactor.String on each kind of text.
func BenchmarkString(b *testing.B) {
	r := redactorWith(b, 1)
	for _, c := range []struct{ name, text string }{
		{"prose", prompt}, {"code", codeText}, {"links", linksText}, {"json", jsonText}, {"32KiB", prompt32},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.text)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_ = r.String(c.text)
			}
		})
	}
}

// BenchmarkKnownValuesMemory reports the heap a known value costs at
// 10,000 and 100,000 values.
func BenchmarkKnownValuesMemory(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("values-%d", n), func(b *testing.B) {
			keys := fakeKeys(n)
			vals := make(map[string]credential.Secret, n)
			for i, k := range keys {
				vals[fmt.Sprint("k", i)] = credential.NewSecret(k)
			}
			for i := 0; i < b.N; i++ {
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				r := redact.New()
				if err := r.AddAll(vals); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(n), "heap-B/value")
				runtime.KeepAlive(r)
			}
		})
	}
}

// BenchmarkAdd adds one value to a Redactor of 10,000, one at a time.
func BenchmarkAdd(b *testing.B) {
	r := redactorWith(b, 10000)
	extra := fakeKeys(10000 + b.N)[10000:]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.Add("x", credential.NewSecret(extra[i])); err != nil {
			b.Fatal(err)
		}
	}
}

// rotating is a SecretSource of n values whose one value changes per
// rotation.
type rotating struct {
	vals map[string]credential.Secret
	fn   func()
}

func (s *rotating) Secrets(yield func(string, credential.Secret) bool) {
	for k, v := range s.vals {
		if !yield(k, v) {
			return
		}
	}
}
func (s *rotating) OnChange(f func()) func() { s.fn = f; return func() {} }

// BenchmarkRotation rotates one credential of a tracked source of 10,000.
func BenchmarkRotation(b *testing.B) {
	keys := fakeKeys(10000 + b.N)
	src := &rotating{vals: map[string]credential.Secret{}}
	for i := 0; i < 10000; i++ {
		src.vals[fmt.Sprint("k", i)] = credential.NewSecret(keys[i])
	}
	r := redact.New()
	stop := r.Track(src)
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src.vals["k0"] = credential.NewSecret(keys[10000+i])
		src.fn()
	}
}
