package azure

import (
	"context"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/credkit/credkit/credential"
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

// OpenURL implements provider.Opener.
func (o *Opener) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	path := strings.TrimPrefix(u.Path, "/")
	// What errors print: the vault and the secret name, never a version or
	// field (a value pasted in the wrong place) nor settings.
	printed := "azure-kv://" + u.Host + "/"
	if name := strings.SplitN(path, "/", 2)[0]; validName(name) {
		printed += name
	}
	bad := func(ref, reason string) error {
		return &credential.Error{Op: "open", Ref: ref, Kind: credential.ErrInvalid, Reason: reason}
	}
	host, short, ok := validVault(u.Host)
	if !ok {
		return nil, "", bad("azure-kv://", "the host is not a vault name (3 to 24 letters, digits and dashes) or a vault host name")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return nil, "", bad(printed, "malformed settings")
		}
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(q[k]) > 1 {
				return nil, "", bad(printed, "setting "+strconv.Quote(k)+" is repeated (azure-kv:// takes no settings)")
			}
			return nil, "", bad(printed, "unknown setting "+strconv.Quote(k)+" (azure-kv:// takes no settings)")
		}
	}
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
			return nil, "", &credential.Error{Op: "open", Ref: printed, Kind: credential.ErrPermission, Reason: "no Azure credential (DefaultAzureCredential)", Err: err}
		}
		o.cred = c
	}
	c, err := azsecrets.NewClient("https://"+host, o.cred, o.clientOpts)
	if err != nil {
		return nil, "", &credential.Error{Op: "open", Ref: printed, Kind: credential.ErrInvalid, Reason: "cannot create the Key Vault client", Err: err}
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
