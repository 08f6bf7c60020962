package redact_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/credkit/credkit/redact"
)

// benignCorpus is text a log carries that holds no secret: it must pass
// byte-identical.
func benignCorpus() []string {
	rng := rand.New(rand.NewPCG(7, 8))
	hexOf := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "0123456789abcdef"[rng.IntN(16)]
		}
		return string(b)
	}
	img := make([]byte, 3000)
	for i := range img {
		img[i] = byte(rng.IntN(256))
	}
	out := []string{
		// IDs and hashes.
		"550e8400-e29b-41d4-a716-446655440000",
		"request_id=7f3c9a2e-1b4d-4c8e-9f0a-2d6e8b1c5a3f trace_id=" + hexOf(32) + " span_id=" + hexOf(16),
		"traceparent: 00-" + hexOf(32) + "-" + hexOf(16) + "-01",
		"commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"etag: \"" + hexOf(32) + "\"",
		"chatcmpl-9xFAKE1a2b3c4d5e6f7g8h9i0jAbCdE", "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
		"msg_01XFDUDYJgAACzvnptvVoYEL", "run_abc123DEF456ghi789", "file-BK7bzQj3FfZFXr7DbL6xJwfo",
		"req_01HZYFAKE0000000000000000", "x-request-id: req_8f1c2d3e4b5a69788796a5b4c3d2e1f0",
		// Models and config.
		"model=gpt-4o-mini-2024-07-18 temperature=0.2 max_tokens=512 top_p=1",
		"claude-3-5-sonnet-20241022", "text-embedding-3-large", "meta-llama/Llama-3.1-70B-Instruct",
		"prompt_tokens=1200 completion_tokens=340 total_tokens=1540 cached_tokens=0",
		"token_count=42 tokens_used=1234 next_page_token=CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3 page_token=abc",
		`{"max_tokens": 4096, "token_count": 17, "tokens_used": 99, "next_page_token": "eyJvZmZzZXQiOjEwMH0"}`,
		"NextToken: AAAAAAAAAAAAAAAAAAAAAA, MaxResults: 50",
		"token_type=Bearer expires_in=3600 scope=openid",
		// Prose about secrets.
		"The password is required and the token expired; ask the user to sign in again.",
		"missing header Authorization: expected format 'Bearer <token>'",
		"Set the Authorization header to Bearer followed by your API key.",
		"basic authentication is disabled; bearer tokens only",
		"Password: ********", "password=<redacted>", "api_key=${OPENAI_API_KEY}", "token: $GITHUB_TOKEN",
		"OPENAI_API_KEY=your-api-key-here", "API_KEY=xxx", "secret: xxxxxxxxxxxxxxxx", `"api_key": "<your key>"`,
		"Authorization: Bearer <token>", "apiKey: {{ .Values.apiKey }}", "password: changeme",
		"AKIA is the prefix of AWS access key ids; ASIA of temporary ones.",
		"skills: sk-learn, scikit", "eyes on the keyboard", "task-sk-2 done",
		// Code and stack traces.
		"func (s *Server) handle(w http.ResponseWriter, r *http.Request) { s.mu.Lock(); defer s.mu.Unlock() }",
		"password := os.Getenv(\"DB_PASSWORD\")", "token = self.token", "apiKey := cfg.APIKey",
		"if token == \"\" { return errMissingToken }", "const tokenURL = \"https://oauth2.googleapis.com/token\"",
		"goroutine 1 [running]:\nmain.main()\n\t/app/main.go:42 +0x1d\nexit status 2",
		"Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    client = OpenAI(api_key=os.environ[\"OPENAI_API_KEY\"])\nKeyError: 'OPENAI_API_KEY'",
		"SELECT id, email FROM users WHERE created_at > now() - interval '1 day' AND status = 'active';",
		"UPDATE sessions SET expires_at = $1 WHERE id = $2",
		// URLs without credentials.
		"GET https://api.openai.com/v1/models?limit=20&order=desc HTTP/1.1",
		"https://example.com/search?q=vector+databases&page=2&sort=relevance",
		"postgres://db.internal:5432/app?sslmode=require", "https://github.com/credkit/credkit/blob/main/README.md#install",
		"redis://cache.internal:6379/0", "mailto:someone@example.com", "git@github.com:credkit/credkit.git",
		// Data.
		"data:image/png;base64," + base64.StdEncoding.EncodeToString(img),
		base64.StdEncoding.EncodeToString([]byte("The quick brown fox jumps over the lazy dog")),
		"2026-11-25T09:00:00Z level=INFO msg=\"request done\" status=200 duration=1.5ms",
		"The model returned a summary of the risk-management framework for the support team.",
	}
	return out
}

func TestBenignCorpusIsByteIdentical(t *testing.T) {
	r := newR(t) // one known value, every detector
	prose := strings.Repeat("Summarize the ticket below in three bullet points, then propose a reply. ", 5)
	for i, text := range benignCorpus() {
		if out := r.String(text); out != text {
			t.Errorf("benign #%d changed:\n in: %.200q\nout: %.200q", i, text, out)
		}
		long := prose + text + "\n" + prose
		if out := r.String(long); out != long {
			t.Errorf("benign #%d changed inside prose: %.200q", i, out[len(prose):])
		}
		// Through the Handler, as the bare handler prints it.
		var a, b bytes.Buffer
		bare := slog.New(slog.NewJSONHandler(&a, &slog.HandlerOptions{ReplaceAttr: noTime}))
		red := slog.New(redact.NewHandler(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: noTime}), r))
		for _, l := range []*slog.Logger{bare, red} {
			l.Info(text, "text", text, "m", map[string]any{"text": text}, "n", []string{text})
		}
		assert.Equal(t, a.String(), b.String(), "benign #%d changed by the Handler", i)
	}
}

// TestPlaceholdersAreNotSecrets: stand-ins for a value are left alone
// whatever name stands before them.
func TestPlaceholdersAreNotSecrets(t *testing.T) {
	r := redact.New()
	for _, name := range []string{"password", "api_key", "OPENAI_API_KEY", "token", "Authorization", "client_secret"} {
		for _, ph := range []string{"<token>", "${API_KEY}", "$API_KEY", "xxx", "XXXXXXXX", "****", "********", "your-api-key-here", "YOUR_API_KEY", "<your-key>", "{{ .Token }}", "...", "%s", "changeme", "[REDACTED]"} {
			for _, f := range []string{"%s=%s", "%s: %s", `"%s": "%s"`} {
				text := fmt.Sprintf(f, name, ph)
				assert.Equal(t, text, r.String(text))
			}
		}
	}
}

// TestCountingNamesAreNotSecrets: the words of a sensitive name in a count
// or a cursor do not make it one, in text or as a key at any depth.
func TestCountingNamesAreNotSecrets(t *testing.T) {
	r := redact.New()
	names := []string{"max_tokens", "token_count", "tokens_used", "next_page_token", "page_token", "maxTokens", "tokenCount", "NextToken", "prompt_tokens", "completion_tokens", "token_type", "primary_key", "cache_key", "key_id", "secret_name", "password_policy", "tokenizer"}
	for _, n := range names {
		text := n + "=FAKEvalue0123456789"
		assert.Equal(t, text, r.String(text), n)
		var buf bytes.Buffer
		l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
		l.Info("x", n, "FAKEvalue0123456789", "m", map[string]any{n: "FAKEvalue0123456789"})
		assert.Equal(t, 2, strings.Count(buf.String(), "FAKEvalue0123456789"), n)
	}
}

// TestSensitiveKeysAtEveryDepth: key rules apply to attributes, groups,
// map keys and struct fields, at any depth, to camelCase and compound
// names; the value is replaced whatever it is, the rest kept.
func TestSensitiveKeysAtEveryDepth(t *testing.T) {
	names := []string{"password", "Password", "db.password", "openaiApiKey", "OPENAI_API_KEY", "clientSecret", "client_secret", "privateKey", "accessToken", "refreshToken", "sessionToken", "bearerToken", "connection_string", "database_url", "dsn", "X-API-Key", "Authorization", "api-key", "secretAccessKey", "webhookSecret", "passphrase", "cookie", "id_token", "csrf_token"}
	r := redact.New()
	for _, n := range names {
		for _, v := range []any{"FAKEplainvalue", 12345678, []string{"FAKEinlist"}, map[string]any{"inner": "FAKEnested"}} {
			var buf bytes.Buffer
			l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
			l.Info("attr", n, v)
			l.Info("group", slog.Group("g", slog.Group("h", n, v)))
			l.Info("map", "cfg", map[string]any{"host": "db", "deep": map[string]any{n: v}})
			l.Info("slice", "cfgs", []any{map[string]any{n: v}})
			out := buf.String()
			assert.NotContains(t, out, "FAKE", "%s = %v leaked", n, v)
			assert.NotContains(t, out, "12345678", "%s = %v leaked", n, v)
			assert.Contains(t, out, `"host":"db"`)
		}
	}
	type Inner struct {
		ClientSecret string
		Region       string
	}
	type Cfg struct {
		Endpoint string
		APIKey   string
		DBPass   string `json:"db_password"`
		Renamed  string `json:"p"`
		Password string `json:"p2"`
		Inner    Inner
		Ptr      *Inner
	}
	var buf bytes.Buffer
	l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
	l.Info("struct", "cfg", Cfg{Endpoint: "https://api", APIKey: "FAKE1", DBPass: "FAKE2", Password: "FAKE3", Inner: Inner{"FAKE4", "eu"}, Ptr: &Inner{"FAKE5", "us"}})
	out := buf.String()
	assert.NotContains(t, out, "FAKE")
	assert.Contains(t, out, `"Endpoint":"https://api"`)
	assert.Contains(t, out, `"Region":"eu"`)
}
