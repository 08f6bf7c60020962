package provider_test

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

func ExampleURLMux() {
	os.Setenv("EXAMPLE_OPENAI_API_KEY", "sk-proj-FAKE0000000000000000000000000000")
	defer os.Unsetenv("EXAMPLE_OPENAI_API_KEY")

	mux := provider.NewURLMux()
	ctx := context.Background()
	p, ref, err := mux.Resolve(ctx, "env://EXAMPLE_OPENAI_API_KEY")
	if err != nil {
		panic(err)
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		panic(err)
	}
	fmt.Println(ref, v.Secret)

	_, _, err = mux.Resolve(ctx, "gcp-sm://projects/p/secrets/openai")
	fmt.Println(err)
	// Output:
	// EXAMPLE_OPENAI_API_KEY [REDACTED]
	// credential: open gcp-sm://projects/p/secrets/openai: invalid: no backend registered for scheme "gcp-sm"
}

func ExampleURLMux_Register() {
	mux := provider.NewURLMux()
	// A backend of your own: anything with Fetch(ctx, ref).
	static := credential.NewStatic("x", credential.NewSecret("FAKE-token-0000"), credential.Metadata{})
	_ = mux.Register("config", provider.OpenerFunc(func(_ context.Context, u *url.URL) (credential.Provider, string, error) {
		return staticProvider{static}, u.Host, nil
	}))
	fmt.Println(mux.Schemes())
	// Output: [config env file]
}

type staticProvider struct{ c *credential.Static }

func (s staticProvider) Fetch(ctx context.Context, _ string) (credential.Version, error) {
	v, err := s.c.Get(ctx)
	return credential.Version{Secret: v, ID: "1"}, err
}

// Settings is the one rule of every opener: a setting the opener does not
// know, or one given twice, is refused, naming the setting, never its value.
func ExampleSettings() {
	u, _ := url.Parse("vault://secret/data/openai?mount=kv&regoin=FAKEvalue")
	_, err := provider.Settings(u, "mount", "namespace")
	fmt.Println(err)
	// Output:
	// credential: open vault://secret/data/openai?mount=_&regoin=_: invalid: unknown setting "regoin" (known: mount, namespace)
}

// An opener refusing a setting's value prints the URL without any value:
// OpenError alone would print a harmless setting's (version=...), and the
// refused value may be a token pasted in the wrong place.
func ExampleWithoutValues() {
	u, _ := url.Parse("vault://secret/openai?version=FAKEpastedTOKEN&kv=2")
	fmt.Println(provider.OpenError(u, credential.ErrInvalid, `setting "version" is not a number`))
	fmt.Println(provider.OpenError(provider.WithoutValues(u), credential.ErrInvalid, `setting "version" is not a number`))
	// Output:
	// credential: open vault://secret/openai?version=FAKEpastedTOKEN&kv=_: invalid: setting "version" is not a number
	// credential: open vault://secret/openai?version=_&kv=_: invalid: setting "version" is not a number
}
