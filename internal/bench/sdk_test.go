package bench

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/internal/fakeclock"
)

// policy returns a policy on clk without jitter, so that the only waits are
// the ones the server asks for.
func policy(name string, clk credential.Clock, attempts int) *degrade.Policy {
	return degrade.NewPolicy(name, degrade.WithClock(clk), degrade.WithMaxAttempts(attempts),
		degrade.WithRand(func() float64 { return 0 }), degrade.WithoutBreaker())
}

// run runs f while advancing clk to each timer it arms, and returns the
// fake time that passed.
func run(clk *fakeclock.Clock, f func()) time.Duration {
	start := clk.Now()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	for {
		select {
		case <-done:
			return clk.Now().Sub(start)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if clk.WaitTimers(ctx, 1) {
			clk.AdvanceToNext()
		}
		cancel()
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var faults = []fault{
	{status: 429, header: map[string]string{"Retry-After": "2"}},
	{status: 529},
	{status: 502},
}

func openAIChat(ctx context.Context, c openai.Client) (string, error) {
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    openai.ChatModelGPT4oMini,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("terse"), openai.UserMessage("ping")},
	})
	if err != nil {
		return "", err
	}
	return resp.Choices[0].Message.Content, nil
}

func anthropicMessage(ctx context.Context, c anthropic.Client) (string, error) {
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     anthropic.ModelClaudeHaiku4_5,
		MaxTokens: 16,
		System:    []anthropic.TextBlockParam{{Text: "terse"}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("ping"))},
	})
	if err != nil {
		return "", err
	}
	return msg.Content[0].Text, nil
}

// sdk is one SDK behind its README wiring, for the shared scenarios.
type sdk struct {
	name   string
	call   func(ctx context.Context, key credential.Credential, p *degrade.Policy, url string) (string, error)
	stream func(ctx context.Context, key credential.Credential, p *degrade.Policy, url string, first func()) (string, error)
	plain  func(ctx context.Context, url string) (string, error) // the SDK over a plain client: no RoundTripper
}

var sdks = []sdk{
	{
		name: "openai-go v3",
		call: func(ctx context.Context, key credential.Credential, p *degrade.Policy, url string) (string, error) {
			return openAIChat(ctx, newOpenAI(key, p, url))
		},
		stream: func(ctx context.Context, key credential.Credential, p *degrade.Policy, url string, first func()) (string, error) {
			c := newOpenAI(key, p, url)
			s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model: openai.ChatModelGPT4oMini, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("ping")}})
			defer s.Close()
			var b strings.Builder
			for n := 0; s.Next(); n++ {
				if ch := s.Current(); len(ch.Choices) > 0 {
					b.WriteString(ch.Choices[0].Delta.Content)
				}
				if n == 0 {
					first()
				}
			}
			return b.String(), s.Err()
		},
		plain: func(ctx context.Context, url string) (string, error) {
			return openAIChat(ctx, openai.NewClient(option.WithAPIKey(newKey), option.WithBaseURL(url), option.WithMaxRetries(0)))
		},
	},
	{
		name: "anthropic-sdk-go v2",
		call: func(ctx context.Context, key credential.Credential, p *degrade.Policy, url string) (string, error) {
			return anthropicMessage(ctx, newAnthropic(key, p, url))
		},
		stream: func(ctx context.Context, key credential.Credential, p *degrade.Policy, url string, first func()) (string, error) {
			c := newAnthropic(key, p, url)
			s := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
				Model: anthropic.ModelClaudeHaiku4_5, MaxTokens: 16,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("ping"))}})
			defer s.Close()
			var b strings.Builder
			for n := 0; s.Next(); n++ {
				ev := s.Current()
				if d, ok := ev.AsAny().(anthropic.ContentBlockDeltaEvent); ok {
					b.WriteString(d.Delta.Text)
				}
				if n == 0 {
					first()
				}
			}
			return b.String(), s.Err()
		},
		plain: func(ctx context.Context, url string) (string, error) {
			return anthropicMessage(ctx, anthropic.NewClient(aoption.WithoutEnvironmentDefaults(), aoption.WithAPIKey(newKey),
				aoption.WithBaseURL(url), aoption.WithMaxRetries(0)))
		},
	},
}

// The README wirings against 429 with Retry-After, 529 and a 5xx: one call
// succeeds after exactly the attempts expected and the wait the server
// asked for.
func TestWiringRidesOutFaults(t *testing.T) {
	for _, s := range sdks {
		t.Run(s.name, func(t *testing.T) {
			p := newProvider(t, oldKey, faults...)
			clk := fakeclock.New(time.Now())
			key := credential.NewStatic(s.name, credential.NewSecret(oldKey), credential.Metadata{})
			var got string
			var err error
			elapsed := run(clk, func() { got, err = s.call(context.Background(), key, policy("llm", clk, 5), p.URL) })
			if err != nil || got != "pong" {
				t.Fatalf("got %q, %v", got, err)
			}
			if want := []int{429, 529, 502, 200}; !equal(p.seen(), want) {
				t.Fatalf("statuses %v, want %v", p.seen(), want)
			}
			if elapsed != 2*time.Second {
				t.Fatalf("waited %v, want the 2 s Retry-After", elapsed)
			}
		})
	}
}

// A stream through the RoundTripper keeps working while the key is rotated
// under it; the next request carries the new key.
func TestWiringStreamAcrossKeyRotation(t *testing.T) {
	for _, s := range sdks {
		t.Run(s.name, func(t *testing.T) {
			p := newProvider(t, oldKey)
			p.hold, p.holding = make(chan struct{}), make(chan struct{})
			key := credential.NewStatic(s.name, credential.NewSecret(oldKey), credential.Metadata{})
			pol := degrade.NewPolicy("llm")
			got, err := s.stream(context.Background(), key, pol, p.URL, func() {
				// The operator rotates the key mid-stream: the provider
				// accepts only the new one from now on.
				key.Set(credential.NewSecret(newKey))
				p.setValid(newKey)
				close(p.hold)
			})
			if err != nil || got != "pong" {
				t.Fatalf("stream: %q, %v", got, err)
			}
			p.mu.Lock()
			p.hold = nil
			p.mu.Unlock()
			if got, err := s.call(context.Background(), key, pol, p.URL); err != nil || got != "pong" {
				t.Fatalf("after rotation: %q, %v", got, err)
			}
			if want := []string{oldKey, newKey}; !equal(p.usedKeys(), want) {
				t.Fatal("the request after the rotation did not carry the new key")
			}
		})
	}
}

// The stacked wiring: a wrapper's policy around the SDK call, whose client
// has the RoundTripper of another policy. A provider that stays down gets
// the wrapper's 3 attempts, not 3 × 4.
func TestWiringStackedDoesNotMultiply(t *testing.T) {
	for _, s := range sdks {
		t.Run(s.name, func(t *testing.T) {
			p := newProvider(t, oldKey, fault{status: 503})
			p.repeat = true
			key := credential.NewStatic(s.name, credential.NewSecret(oldKey), credential.Metadata{})
			transport := policy("http", credential.SystemClock, 4)
			wrapper := policy("summarise", credential.SystemClock, 3)
			_, err := degrade.Call(context.Background(), wrapper, func(ctx context.Context) (string, error) {
				return s.call(ctx, key, transport, p.URL)
			})
			if !errors.Is(err, degrade.ErrRetriesExhausted) {
				t.Fatalf("err %v", err)
			}
			if n := len(p.seen()); n != 3 {
				t.Fatalf("%d HTTP calls, want 3", n)
			}
		})
	}
}

// The SDK's own error, from a client without any RoundTripper, classifies
// with no code of the caller's: a policy around the call retries the 503s
// and honours Retry-After; a 401 is a rejected credential.
func TestSDKErrorsClassifyWithoutAdapter(t *testing.T) {
	for _, s := range sdks {
		t.Run(s.name, func(t *testing.T) {
			p := newProvider(t, newKey, fault{status: 429, header: map[string]string{"Retry-After": "3"}}, fault{status: 503})
			clk := fakeclock.New(time.Now())
			var got string
			var err error
			elapsed := run(clk, func() {
				got, err = degrade.Call(context.Background(), policy("llm", clk, 4), func(ctx context.Context) (string, error) {
					return s.plain(ctx, p.URL)
				})
			})
			if err != nil || got != "pong" || elapsed != 3*time.Second {
				t.Fatalf("got %q, %v after %v", got, err, elapsed)
			}

			p.setValid("sk-proj-FAKE9999999999999999999999999999")
			_, err = s.plain(context.Background(), p.URL)
			if c := degrade.ClassifyError(err).Class; c != degrade.Rejected {
				t.Fatalf("401 classified %v", c)
			}
		})
	}
}

// anthropic-sdk-go without option.WithoutEnvironmentDefaults() and with no
// key in the environment refuses before sending. That error is permanent:
// not retried, and it never opens the breaker.
func TestAnthropicMissingCredentialsIsPermanent(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ANTHROPIC_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	p := newProvider(t, oldKey)
	key := credential.NewStatic("anthropic", credential.NewSecret(oldKey), credential.Metadata{})
	pol := degrade.NewPolicy("anthropic", degrade.WithBreaker(0.5, 2, time.Minute))
	hc := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key, Inject: credential.Header("X-Api-Key")}, pol)}
	client := anthropic.NewClient(aoption.WithHTTPClient(hc), aoption.WithMaxRetries(0), aoption.WithBaseURL(p.URL))
	calls := 0
	for i := 0; i < 5; i++ {
		_, err := degrade.Call(context.Background(), pol, func(ctx context.Context) (string, error) {
			calls++
			return anthropicMessage(ctx, client)
		})
		if err == nil || !errors.Is(err, degrade.ErrPermanent) {
			t.Fatalf("err %v, want a permanent error", err)
		}
	}
	if calls != 5 || len(p.seen()) != 0 {
		t.Fatalf("%d calls, %d requests: want 5 and 0", calls, len(p.seen()))
	}
	if st := pol.Breaker().State(); st != degrade.Closed {
		t.Fatalf("breaker %v", st)
	}
}
