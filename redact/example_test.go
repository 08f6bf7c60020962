package redact_test

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/redact"
)

// noTime drops the time from slog output, so that the example's output is
// stable.
func noTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func ExampleNewHandler() {
	key := credential.NewSecret("sk-proj-FAKEexampleKeyQzXvKwJqYzPxWvQkZj")
	r := redact.New(redact.WithReasons())
	if err := r.Add("openai", key); err != nil {
		panic(err)
	}
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime}), r))

	logger.Info("calling with " + key.Reveal())                                                          // in the message
	logger.Info("request", "header", "Authorization: Bearer "+key.Reveal())                              // in an attribute
	logger.Error("failed", "err", errors.New("GET /v1?key=AIzaFAKEexampleKeyQzXvKwJqYzPxWvQkZjXyV 401")) // in an error
	logger.Info("config", "db_password", "hunter2-but-longer")                                           // a sensitive key
	// Output:
	// {"level":"INFO","msg":"calling with [REDACTED:known:openai]"}
	// {"level":"INFO","msg":"request","header":"Authorization: Bearer [REDACTED:known:openai]"}
	// {"level":"ERROR","msg":"failed","err":"GET /v1?key=[REDACTED:google] 401"}
	// {"level":"INFO","msg":"config","db_password":"[REDACTED:key]"}
}

func ExampleRedactor_Writer() {
	r := redact.New()
	w := r.Writer(os.Stdout)
	logger := log.New(w, "", 0)
	logger.Printf("token ghp_FAKEexample0000000000000000000000000000 rejected")
	// Output: token [REDACTED] rejected
}

func ExampleRedactor_String() {
	r := redact.New()
	fmt.Println(r.String("postgres://app:FAKEpassw0rd@db.internal:5432/app"))
	// Output: postgres://app:[REDACTED]@db.internal:5432/app
}

// The one line that makes the default logger safe. Wrap a new handler, never
// slog.Default().Handler() (see [redact.NewHandler]).
func ExampleNewHandler_default() {
	r := redact.New()
	old := slog.Default()
	defer slog.SetDefault(old)

	slog.SetDefault(slog.New(redact.NewHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime}), r)))

	slog.Info("retrying", "url", "https://api.example.com/v1/chat?api_key=FAKE0123456789abcdef")
	// Output:
	// {"level":"INFO","msg":"retrying","url":"https://api.example.com/v1/chat?api_key=[REDACTED]"}
}
