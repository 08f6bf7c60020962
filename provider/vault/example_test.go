package vault_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/vaultfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/vault"
	"github.com/credkit/credkit/rotate"
)

func Example() {
	// An in-process Vault stands in for the server; in production,
	// vault.NewOpener() reads VAULT_ADDR, TLS settings and auth from the
	// environment instead.
	fake := vaultfake.New(nil)
	defer fake.Close()
	fake.Put("secret", "prod/openai", map[string]any{"api_key": "sk-proj-FAKE0000000000000000000000000000"})

	o := vault.NewOpener(vault.WithClient(fake.Client(fake.RootToken())))
	defer o.Close()
	mux := provider.NewURLMux()
	mux.Register("vault", o)
	ctx := context.Background()
	p, ref, err := mux.Resolve(ctx, "vault://secret/prod/openai#api_key")
	if err != nil {
		panic(err)
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		panic(err)
	}
	fmt.Println(ref, v.Secret, "version", v.ID)
	// Output: secret/prod/openai#api_key [REDACTED] version 1
}

// A database's dynamic credentials, taken as two credentials: both come
// from one lease, which the provider renews and replaces before it
// expires.
func ExampleProvider_Leases() {
	fake := vaultfake.New(nil)
	defer fake.Close()
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour})

	p := vault.New(fake.Client(fake.RootToken()))
	defer p.Close()
	ctx := context.Background()
	user, err := rotate.Watch(ctx, "db-user", p.Leases(), "database/creds/readonly#username")
	if err != nil {
		panic(err)
	}
	defer user.Close()
	pass, err := rotate.Watch(ctx, "db-password", p.Leases(), "database/creds/readonly#password")
	if err != nil {
		panic(err)
	}
	defer pass.Close()

	u, _ := user.Version()
	pw, _ := pass.Version()
	fmt.Println("same lease:", vault.LeaseOf(u.ID) == vault.LeaseOf(pw.ID))
	fmt.Println("lease lasts:", u.Expires.Sub(u.Created))
	fmt.Println("secrets read:", fake.Calls("GET database/creds/readonly"))
	// Output:
	// same lease: true
	// lease lasts: 1h0m0s
	// secrets read: 1
}

// AppRole: the role_id from the environment, the secret_id from a file
// (as a Vault Agent or an orchestrator writes it). The provider logs in on
// first use and keeps its token renewed.
func ExampleAppRoleAuth() {
	fake := vaultfake.New(nil)
	defer fake.Close()
	fake.AddAppRole("app", vaultfake.AppRole{RoleID: "FAKE-role", SecretID: "FAKE-sid", TokenTTL: time.Hour, TokenMaxTTL: 24 * time.Hour})
	fake.Put("secret", "prod/openai", map[string]any{"api_key": "sk-proj-FAKE0000000000000000000000000000"})

	p := vault.New(fake.Client(""), vault.WithAuth(&vault.AppRoleAuth{
		RoleID:   credential.NewSecret("FAKE-role"), // or RoleIDEnv: "VAULT_ROLE_ID"
		SecretID: credential.NewSecret("FAKE-sid"),  // or SecretIDFile: "/run/secrets/vault-secret-id"
	}))
	defer p.Close()
	_, err := p.Fetch(context.Background(), "secret/prod/openai#api_key")
	st := p.AuthStatus()
	fmt.Println(err, st.Method, st.Authenticated, st.Logins, st.Expires.Sub(st.Issued))
	// Output: <nil> approle true 1 1h0m0s
}

// The provider's token as a health check: it passes while a token is held,
// and fails with the error's kind when the login is refused.
func ExampleProvider_CheckAuth() {
	fake := vaultfake.New(nil)
	defer fake.Close()
	fake.AddKubernetesRole("app", vaultfake.LoginRole{JWT: "FAKE.sa.jwt", TokenTTL: time.Hour})

	tokenFile := writeTemp("FAKE.sa.jwt") // the kubelet's service-account token
	defer os.Remove(tokenFile)
	for _, role := range []string{"app", "unknown"} {
		p := vault.New(fake.Client(""), vault.WithAuth(&vault.KubernetesAuth{Role: role, TokenFile: tokenFile}))
		check := health.Func("vault-auth", true, func(ctx context.Context) health.Result {
			return health.FromError(p.CheckAuth(ctx))
		})
		r := check.Run(context.Background())
		fmt.Println(strings.TrimSpace(role + " " + string(r.Status) + " " + r.Output))
		p.Close()
	}
	// Output:
	// app pass
	// unknown fail permission
}

func writeTemp(content string) string {
	f, err := os.CreateTemp("", "sa-token")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	f.WriteString(content)
	return f.Name()
}
