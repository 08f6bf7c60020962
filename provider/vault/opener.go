package vault

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

// Opener opens vault:// URLs for a provider.URLMux:
//
//	mux.Register("vault", vault.NewOpener())
//
// URL form: vault://MOUNT/PATH[#field][?version=N&kv=1|2&namespace=NS].
// User info, or an unknown or repeated setting, is ErrInvalid naming the
// setting and never its value (provider.Settings); errors print the URL
// through credential.SafeRef.
//
// Without [WithClient], the Opener builds one client as Vault's own tools
// do: api.DefaultConfig reads VAULT_ADDR, VAULT_CACERT, VAULT_CAPATH,
// VAULT_CLIENT_CERT, VAULT_CLIENT_KEY, VAULT_TLS_SERVER_NAME,
// VAULT_SKIP_VERIFY, VAULT_CLIENT_TIMEOUT and VAULT_MAX_RETRIES, and
// api.NewClient VAULT_TOKEN and VAULT_NAMESPACE. Without [WithAuth] in the
// provider options, the auth method comes from the environment, first match
// wins:
//
//   - VAULT_ROLE_ID or VAULT_ROLE_ID_FILE: AppRole, with VAULT_SECRET_ID or
//     VAULT_SECRET_ID_FILE (mount VAULT_AUTH_MOUNT, default "approle");
//   - VAULT_K8S_ROLE: Kubernetes, with the service-account token file
//     (VAULT_K8S_TOKEN_FILE, default DefaultServiceAccountTokenFile);
//   - VAULT_JWT_ROLE: JWT/OIDC, with VAULT_JWT_FILE or VAULT_JWT;
//   - VAULT_TOKEN, or else the CLI's token file ~/.vault-token.
//
// The Opener keeps one Provider for all its URLs (a ref's namespace
// setting is sent per request). A URL of a dynamic secret engine resolves
// to the provider's [Leases] view, so that rotate learns of renewals and
// replacements at once; when Vault cannot say which engine serves a URL
// at open (it is down), the Provider itself serves it, by polling. It is safe for concurrent use; Close closes the
// Provider.
type Opener struct {
	client *api.Client
	opts   []Option
	getenv func(string) string

	mu    sync.Mutex
	p     *Provider
	built *api.Client // the client the Opener made, whose connections Close closes
}

// OpenerOption configures an Opener.
type OpenerOption func(*Opener)

// WithClient makes the Opener use c instead of a client built from the
// environment.
func WithClient(c *api.Client) OpenerOption { return func(o *Opener) { o.client = c } }

// WithProviderOptions passes options to the Provider the Opener makes.
func WithProviderOptions(opts ...Option) OpenerOption {
	return func(o *Opener) { o.opts = append(o.opts, opts...) }
}

// NewOpener returns an Opener.
func NewOpener(opts ...OpenerOption) *Opener {
	o := &Opener{getenv: os.Getenv}
	for _, f := range opts {
		f(o)
	}
	return o
}

// envAuth picks the auth method from the environment, as documented on
// Opener; nil means the client's token.
func envAuth(getenv func(string) string) Auth {
	mount := getenv("VAULT_AUTH_MOUNT")
	switch {
	case getenv("VAULT_ROLE_ID") != "" || getenv("VAULT_ROLE_ID_FILE") != "":
		a := &AppRoleAuth{Mount: mount, RoleIDFile: getenv("VAULT_ROLE_ID_FILE"), SecretIDFile: getenv("VAULT_SECRET_ID_FILE")}
		if a.RoleIDFile == "" {
			a.RoleIDEnv = "VAULT_ROLE_ID"
		}
		if a.SecretIDFile == "" && getenv("VAULT_SECRET_ID") != "" {
			a.SecretIDEnv = "VAULT_SECRET_ID"
		}
		return a
	case getenv("VAULT_K8S_ROLE") != "":
		return &KubernetesAuth{Mount: mount, Role: getenv("VAULT_K8S_ROLE"), TokenFile: getenv("VAULT_K8S_TOKEN_FILE")}
	case getenv("VAULT_JWT_ROLE") != "":
		a := &JWTAuth{Mount: mount, Role: getenv("VAULT_JWT_ROLE"), File: getenv("VAULT_JWT_FILE")}
		if a.File == "" {
			a.Env = "VAULT_JWT"
		}
		return a
	case getenv("VAULT_TOKEN") != "":
		return nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		f := filepath.Join(home, ".vault-token")
		if _, err := os.Stat(f); err == nil {
			return &TokenAuth{File: f}
		}
	}
	return nil
}

func (o *Opener) provider() (*Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.p != nil {
		return o.p, nil
	}
	c := o.client
	if c == nil {
		cfg := api.DefaultConfig()
		if cfg.Error != nil {
			return nil, &credential.Error{Op: "open", Kind: credential.ErrInvalid, Reason: "the Vault TLS or client settings in the environment are invalid"}
		}
		var err error
		c, err = api.NewClient(cfg)
		if err != nil {
			return nil, &credential.Error{Op: "open", Kind: credential.ErrInvalid, Reason: "cannot make a Vault client from the environment (VAULT_ADDR...)"}
		}
		o.built = c
	}
	opts := o.opts
	if a := envAuth(o.getenv); a != nil && o.client == nil {
		opts = append([]Option{WithAuth(a)}, opts...)
	}
	o.p = New(c, opts...)
	return o.p, nil
}

// OpenURL implements provider.Opener.
func (o *Opener) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	// The one settings rule of every opener: user info, an unknown or a
	// repeated setting is ErrInvalid naming the setting, never its value.
	if _, err := provider.Settings(u, refSettings...); err != nil {
		return nil, "", err
	}
	path := strings.Trim(u.Host+u.Path, "/")
	ref := path
	if u.RawQuery != "" {
		ref += "?" + u.RawQuery
	}
	if u.Fragment != "" {
		ref += "#" + u.Fragment
	}
	r, err := parseRef(ref)
	if err != nil {
		if ce, ok := err.(*credential.Error); ok {
			// The URL printed through credential.SafeRef, with every
			// setting's value blanked: one may be the refused value.
			shown := provider.WithoutValues(u)
			if ce.Ref == "" {
				// parseRef prints no malformed path: it may be a value.
				shown.Host, shown.Path, shown.RawPath, shown.Fragment, shown.RawFragment = "", "", "", "", ""
			}
			return nil, "", provider.OpenError(shown, ce.Kind, ce.Reason)
		}
		return nil, "", err
	}
	p, err := o.provider()
	if err != nil {
		return nil, "", err
	}
	if r.token {
		return p.Leases(), ref, nil
	}
	if r.kv == 0 {
		if mi, _, err := p.target(ctx, r); err == nil && mi.kind == kindDynamic {
			return p.Leases(), ref, nil
		}
	}
	return p, ref, nil
}

// Close closes the Provider the Opener made, and the idle connections of
// the client it built from the environment.
func (o *Opener) Close() error {
	o.mu.Lock()
	p, c := o.p, o.built
	o.mu.Unlock()
	if p != nil {
		_ = p.Close()
	}
	if c != nil {
		if cfg := c.CloneConfig(); cfg != nil && cfg.HttpClient != nil {
			cfg.HttpClient.CloseIdleConnections()
		}
	}
	return nil
}
