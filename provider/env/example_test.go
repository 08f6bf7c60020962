package env_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/env"
)

func Example() {
	// In production the lookup is os.LookupEnv (the default); a map stands in
	// for the environment here.
	environ := map[string]string{
		"MYAPP_OPENAI_API_KEY": "sk-proj-FAKE0000000000000000000000000000",
		"MYAPP_DATABASE":       `{"user":"app","password":"FAKE-db-password-0000"}`,
	}
	p := env.New(env.WithPrefix("MYAPP_"), env.WithLookup(func(n string) (string, bool) {
		v, ok := environ[n]
		return v, ok
	}))
	ctx := context.Background()

	key, _ := p.Fetch(ctx, "OPENAI_API_KEY")
	fmt.Println("openai:", key.Secret)
	pw, _ := p.Fetch(ctx, "DATABASE#password")
	fmt.Println("db password:", pw.Secret, pw.Secret.Len(), "bytes")

	_, err := p.Fetch(ctx, "ANTHROPIC_API_KEY")
	fmt.Println(errors.Is(err, credential.ErrNotFound), err)
	// Output:
	// openai: [REDACTED]
	// db password: [REDACTED] 21 bytes
	// true credential: fetch ANTHROPIC_API_KEY: not found: variable MYAPP_ANTHROPIC_API_KEY is not set
}
