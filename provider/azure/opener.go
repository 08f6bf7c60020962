package azure

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

// Opener opens azure-kv:// URLs for a provider.URLMux:
//
//	mux.Register("azure-kv", azure.NewOpener())
//
// URL form: azure-kv://VAULT/NAME[/VERSION][#field]. VAULT is a vault name
// ("my-vault" → https://my-vault.vault.azure.net) or, for sovereign clouds
// and private endpoints, a full host ("my-vault.vault.azure.cn",
// "my-vault.vault.usgovcloudapi.net"). The URL takes no settings: an
// unknown or repeated one is ErrInvalid, naming the setting and never its
// value.
//
// The Opener authenticates with azidentity.DefaultAzureCredential
// (environment, workload identity, managed identity, Azure CLI...) unless
// given a credential ([WithCredential]); it creates the credential once and
// one client and one Provider per vault, so every credential of a
// rotate.Set in one vault is checked with one listing per poll. It is safe
// for concurrent use, and it is a [PushTarget]: an [EventHandler] built on
// it notifies every vault's watchers.
type Opener struct {
	cred       azcore.TokenCredential
	clientOpts *azsecrets.ClientOptions
	opts       []Option
	newCred    func() (azcore.TokenCredential, error)

	mu        sync.Mutex
	providers map[string]*Provider // by vault host
	handlers  handlerSet           // event handlers pushing to every vault
}

// OpenerOption configures an Opener.
type OpenerOption interface{ applyOpener(*Opener) }

type openerOption func(*Opener)

func (f openerOption) applyOpener(o *Opener) { f(o) }

// WithCredential makes every vault's client authenticate with c instead of
// DefaultAzureCredential.
func WithCredential(c azcore.TokenCredential) OpenerOption {
	return openerOption(func(o *Opener) { o.cred = c })
}

// WithClientOptions sets the options of every client the Opener creates
// (transport, retries, cloud; DisableChallengeResourceVerification for a
// vault behind a private host).
func WithClientOptions(co *azsecrets.ClientOptions) OpenerOption {
	return openerOption(func(o *Opener) { o.clientOpts = co })
}

// WithProviderOptions passes options to every Provider the Opener makes.
func WithProviderOptions(opts ...Option) OpenerOption {
	return openerOption(func(o *Opener) { o.opts = append(o.opts, opts...) })
}

// NewOpener returns an Opener.
func NewOpener(opts ...OpenerOption) *Opener {
	o := &Opener{providers: map[string]*Provider{}, newCred: defaultCredential}
	for _, f := range opts {
		f.applyOpener(o)
	}
	return o
}

func defaultCredential() (azcore.TokenCredential, error) {
	return azidentity.NewDefaultAzureCredential(nil)
}

// validVault reports whether s is a vault name (3 to 24 letters, digits
// and dashes) or a host name with an optional port.
func validVault(s string) (host string, short string, ok bool) {
	if s == "" || len(s) > 253 {
		return "", "", false
	}
	h, port, hasPort := strings.Cut(s, ":")
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return "", "", false
		}
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return "", "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return "", "", false
			}
		}
	}
	h = strings.ToLower(h)
	if !strings.Contains(h, ".") {
		if hasPort {
			return "", "", false
		}
		if len(h) < 3 || len(h) > 24 {
			return "", "", false
		}
		return h + ".vault.azure.net", h, true
	}
	short, _, _ = strings.Cut(h, ".")
	if hasPort {
		h += ":" + port
	}
	return h, short, true
}

// OpenURL implements provider.Opener. Its settings follow the one rule of
// every opener (provider.Settings): azure-kv:// takes none, so any setting,
// or user info, is ErrInvalid naming the setting and never its value.
func (o *Opener) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	path := strings.TrimPrefix(u.Path, "/")
	// What errors print (through provider.OpenError, so credential.SafeRef
	// drops setting values and user info): the vault and the secret name,
	// never a version or field (a value pasted in the wrong place).
	shown := *u
	shown.Path, shown.RawPath, shown.Fragment, shown.RawFragment = "/", "", "", ""
	if name := strings.SplitN(path, "/", 2)[0]; validName(name) {
		shown.Path += name
	}
	host, short, ok := validVault(u.Host)
	if !ok {
		shown.Host = ""
		return nil, "", provider.OpenError(&shown, credential.ErrInvalid, "the host is not a vault name (3 to 24 letters, digits and dashes) or a vault host name")
	}
	if _, err := provider.Settings(&shown); err != nil {
		return nil, "", err
	}
	shown.RawQuery = ""
	printed := credential.SafeRef(shown.String())
	ref := path
	if u.Fragment != "" {
		ref += "#" + u.Fragment
	}
	if _, err := parseRef("open", ref); err != nil {
		if ce, ok := err.(*credential.Error); ok {
			ce.Ref = printed
		}
		return nil, "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := o.providers[host]; ok {
		return p, ref, nil
	}
	if o.cred == nil {
		c, err := o.newCred()
		if err != nil {
			e := provider.OpenError(&shown, credential.ErrPermission, "no Azure credential (DefaultAzureCredential)")
			e.Err = err
			return nil, "", e
		}
		o.cred = c
	}
	c, err := azsecrets.NewClient("https://"+host, o.cred, o.clientOpts)
	if err != nil {
		e := provider.OpenError(&shown, credential.ErrInvalid, "cannot create the Key Vault client")
		e.Err = err
		return nil, "", e
	}
	p := New(c, o.opts...)
	p.parent = &o.handlers
	if !strings.Contains(u.Host, ":") {
		p.vault.Store(&short)
	}
	o.providers[host] = p
	return p, ref, nil
}

// dispatch notifies the watchers of vault's secret name in every vault's
// provider.
func (o *Opener) dispatch(vault, name string) int {
	o.mu.Lock()
	ps := make([]*Provider, 0, len(o.providers))
	for _, p := range o.providers {
		ps = append(ps, p)
	}
	o.mu.Unlock()
	n := 0
	for _, p := range ps {
		n += p.dispatch(vault, name)
	}
	return n
}
