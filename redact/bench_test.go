package redact_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
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

func redactorWith(b *testing.B, n int) *redact.Redactor {
	r := redact.New()
	vals := map[string]credential.Secret{}
	for i, k := range fakeKeys(n) {
		vals[fmt.Sprint("k", i)] = credential.NewSecret(k)
	}
	if err := r.AddAll(vals); err != nil {
		b.Fatal(err)
	}
	return r
}

// prompt is 2 KiB of ordinary prompt text.
var prompt = func() string {
	const p = "You are a support assistant for an online store. Summarize the customer's ticket below in three bullet points, " +
		"then propose a reply that is polite, short and specific. Do not invent order numbers or policies. "
	return strings.Repeat(p, 2048/len(p)+1)[:2048]
}()

// logRecord logs a typical AI-app record: a message and 8 attributes, one a
// 2 KiB prompt.
func logRecord(l *slog.Logger, ctx context.Context) {
	l.LogAttrs(ctx, slog.LevelInfo, "chat completion",
		slog.String("model", "gpt-4o-mini"),
		slog.String("request_id", "req_01HZYFAKE0000000000000000"),
		slog.Int("prompt_tokens", 512),
		slog.Int("completion_tokens", 128),
		slog.Duration("latency", 840*time.Millisecond),
		slog.String("user", "user-4242"),
		slog.Bool("cached", false),
		slog.String("prompt", prompt),
	)
}

// BenchmarkHandler compares the bare JSON handler with the redacting one
// (all detectors, 1, 100, 1,000 and 10,000 known values), in one run.
func BenchmarkHandler(b *testing.B) {
	ctx := context.Background()
	b.Run("bare-JSONHandler", func(b *testing.B) {
		l := slog.New(slog.NewJSONHandler(io.Discard, nil))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			logRecord(l, ctx)
		}
	})
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("redact-%d-values", n), func(b *testing.B) {
			l := slog.New(redact.NewHandler(slog.NewJSONHandler(io.Discard, nil), redactorWith(b, n)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				logRecord(l, ctx)
			}
		})
	}
}

// BenchmarkString scans 1 MiB of log text holding a few secrets: the
// Redactor with 10,000 known values against a loop of strings.ReplaceAll
// over 1,000 values.
func BenchmarkString(b *testing.B) {
	keys := fakeKeys(10000)
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		sb.WriteString(prompt[:200])
		if i%50 == 0 {
			sb.WriteString(" key=" + keys[i%len(keys)] + " ")
		}
	}
	text := sb.String()[:1<<20]
	b.Run("Redactor-10000-values", func(b *testing.B) {
		r := redactorWith(b, 10000)
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_ = r.String(text)
		}
	})
	b.Run("ReplaceAll-loop-1000-values", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s := text
			for _, k := range keys[:1000] {
				s = strings.ReplaceAll(s, k, "[REDACTED]")
			}
			_ = s
		}
	})
}
