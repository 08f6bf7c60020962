package azure

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credkit/credkit/credential"
)

// CognitiveServicesScope is the Entra ID scope of Azure OpenAI and the
// other Azure AI services.
const CognitiveServicesScope = "https://cognitiveservices.azure.com/.default"

// TokenProvider mints Entra ID access tokens from an azcore.TokenCredential
// (DefaultAzureCredential, a managed identity, workload identity...). Its
// ref is the scope ("https://cognitiveservices.azure.com/.default" for
// Azure OpenAI), and the Version it returns is the token, with Expires the
// token's expiry: watched by rotate, the token is refreshed ahead of its
// expiry, never served expired, kept out of the logs by redact, and shown
// in the inventory and health like any key. Version.ID is the token's
// keyed fingerprint. It is safe for concurrent use.
//
// azidentity's credentials cache tokens and renew them 5 minutes before
// they expire; watch them with rotate.WithRefreshAhead(1, 4*time.Minute)
// so that rotate asks when a new token is there to get.
type TokenProvider struct {
	cred   azcore.TokenCredential
	tenant string
	clock  credential.Clock

	mu   sync.Mutex
	seen map[string]firstSeen // scope -> the last token and when it was first seen
}

type firstSeen struct {
	fp string
	at time.Time
}

var (
	_ credential.Provider = (*TokenProvider)(nil)
	_ credential.Minter   = (*TokenProvider)(nil)
)

// Mints implements credential.Minter: Fetch gets an access token, which
// rotate refreshes ahead of its expiry only, never at its poll interval.
func (p *TokenProvider) Mints() bool { return true }

// TokenOption configures a TokenProvider.
type TokenOption interface{ applyToken(*TokenProvider) }

type tokenOption func(*TokenProvider)

func (f tokenOption) applyToken(p *TokenProvider) { f(p) }

// WithTenant asks for tokens of tenant (default: the credential's own).
func WithTenant(tenant string) TokenOption {
	return tokenOption(func(p *TokenProvider) { p.tenant = tenant })
}

// WithTokenClock sets the clock of Version.Created (default
// credential.SystemClock).
func WithTokenClock(c credential.Clock) TokenOption {
	return tokenOption(func(p *TokenProvider) { p.clock = credential.ClockOrSystem(c) })
}

// NewTokenProvider returns a TokenProvider minting tokens with cred.
func NewTokenProvider(cred azcore.TokenCredential, opts ...TokenOption) *TokenProvider {
	p := &TokenProvider{cred: cred, clock: credential.SystemClock, seen: map[string]firstSeen{}}
	for _, o := range opts {
		o.applyToken(p)
	}
	return p
}

// validScope reports whether s is an Entra ID scope: an absolute URI or
// an app ID URI, printable, without spaces.
func validScope(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return strings.Contains(s, "/") || strings.HasPrefix(s, "api:")
}

// Fetch returns a token for the scope ref. Entra ID refusing the
// credential (400 invalid_grant, 401) is [credential.ErrPermission], and is
// not retried in a loop by rotate; its outage or a missing identity source
// is [credential.ErrUnavailable]. Errors never hold a token.
func (p *TokenProvider) Fetch(ctx context.Context, scope string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	if !validScope(scope) {
		return credential.Version{}, &credential.Error{Op: "token", Kind: credential.ErrInvalid, Reason: "the ref is not an Entra ID scope (https://…/.default)"}
	}
	if p.cred == nil {
		return credential.Version{}, &credential.Error{Op: "token", Ref: scope, Kind: credential.ErrInvalid, Reason: "no TokenCredential"}
	}
	tok, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}, TenantID: p.tenant})
	if err != nil {
		return credential.Version{}, tokenErr(scope, err)
	}
	switch {
	case strings.TrimSpace(tok.Token) == "":
		return credential.Version{}, &credential.Error{Op: "token", Ref: scope, Kind: credential.ErrInvalid, Reason: "the credential returned an empty token"}
	case strings.ContainsAny(tok.Token, "\x00\r\n"):
		return credential.Version{}, &credential.Error{Op: "token", Ref: scope, Kind: credential.ErrInvalid, Reason: "the token holds a NUL, CR or LF byte"}
	}
	now := p.clock.Now()
	if !tok.ExpiresOn.IsZero() && !now.Before(tok.ExpiresOn) {
		return credential.Version{}, &credential.Error{Op: "token", Ref: scope, Kind: credential.ErrExpired, Reason: "the credential returned an expired token"}
	}
	s := credential.NewSecret(tok.Token)
	fp := s.Fingerprint()
	p.mu.Lock()
	f, ok := p.seen[scope]
	if !ok || f.fp != fp {
		f = firstSeen{fp: fp, at: now}
		p.seen[scope] = f
	}
	p.mu.Unlock()
	return credential.Version{Secret: s, ID: fp, Created: f.at, Expires: tok.ExpiresOn}, nil
}

// tokenErr maps a TokenCredential error, keeping it as the cause (Entra
// ID's error text names the error and the app, never a token or secret).
func tokenErr(scope string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) {
		kind := credential.ErrPermission
		if r := af.RawResponse; r != nil && (r.StatusCode == http.StatusTooManyRequests || r.StatusCode >= 500) {
			kind = credential.ErrUnavailable
		}
		return &credential.Error{Op: "token", Ref: scope, Kind: kind, Reason: "Entra ID refused the token request", Err: err}
	}
	return &credential.Error{Op: "token", Ref: scope, Kind: credential.ErrUnavailable, Reason: "no token could be obtained", Err: err}
}

// TokenOpener opens azure-token:// URLs for a provider.URLMux:
//
//	mux.Register("azure-token", azure.NewTokenOpener())
//
// URL form: azure-token://?scope=SCOPE[&tenant=TENANT], for example
// azure-token://?scope=https://cognitiveservices.azure.com/.default for
// Azure OpenAI. Without a scope it is that one. An unknown or repeated
// setting is ErrInvalid, naming the setting, never its value. The
// TokenOpener authenticates with DefaultAzureCredential unless given a
// credential ([WithTokenCredential]), creates it once, and keeps one
// TokenProvider per tenant. It is safe for concurrent use.
type TokenOpener struct {
	cred    azcore.TokenCredential
	opts    []TokenOption
	newCred func() (azcore.TokenCredential, error)

	mu        sync.Mutex
	providers map[string]*TokenProvider
}

// TokenOpenerOption configures a TokenOpener.
type TokenOpenerOption interface{ applyTokenOpener(*TokenOpener) }

type tokenOpenerOption func(*TokenOpener)

func (f tokenOpenerOption) applyTokenOpener(o *TokenOpener) { f(o) }

// WithTokenCredential makes the TokenOpener mint with c instead of
// DefaultAzureCredential.
func WithTokenCredential(c azcore.TokenCredential) TokenOpenerOption {
	return tokenOpenerOption(func(o *TokenOpener) { o.cred = c })
}

// WithTokenProviderOptions passes options to every TokenProvider the
// TokenOpener makes.
func WithTokenProviderOptions(opts ...TokenOption) TokenOpenerOption {
	return tokenOpenerOption(func(o *TokenOpener) { o.opts = append(o.opts, opts...) })
}

// NewTokenOpener returns a TokenOpener.
func NewTokenOpener(opts ...TokenOpenerOption) *TokenOpener {
	o := &TokenOpener{providers: map[string]*TokenProvider{}, newCred: defaultCredential}
	for _, f := range opts {
		f.applyTokenOpener(o)
	}
	return o
}

// OpenURL implements provider.Opener.
func (o *TokenOpener) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	bad := func(reason string) error {
		return &credential.Error{Op: "open", Ref: "azure-token://", Kind: credential.ErrInvalid, Reason: reason}
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, "", bad("azure-token:// takes only settings: azure-token://?scope=SCOPE[&tenant=TENANT]")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, "", bad("malformed settings")
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "scope" && k != "tenant" {
			return nil, "", bad("unknown setting " + strconv.Quote(k) + " (known: scope, tenant)")
		}
		if len(q[k]) > 1 {
			return nil, "", bad("setting " + strconv.Quote(k) + " is repeated")
		}
	}
	scope := q.Get("scope")
	if scope == "" {
		scope = CognitiveServicesScope
	}
	if !validScope(scope) {
		return nil, "", bad("setting \"scope\" is not an Entra ID scope")
	}
	tenant := q.Get("tenant")
	for i := 0; i < len(tenant); i++ {
		if c := tenant[i]; !(c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return nil, "", bad("setting \"tenant\" is not a tenant ID or domain")
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := o.providers[tenant]; ok {
		return p, scope, nil
	}
	if o.cred == nil {
		c, err := o.newCred()
		if err != nil {
			return nil, "", &credential.Error{Op: "open", Ref: "azure-token://", Kind: credential.ErrPermission, Reason: "no Azure credential (DefaultAzureCredential)", Err: err}
		}
		o.cred = c
	}
	opts := o.opts
	if tenant != "" {
		opts = append(append([]TokenOption(nil), opts...), WithTenant(tenant))
	}
	p := NewTokenProvider(o.cred, opts...)
	o.providers[tenant] = p
	return p, scope, nil
}
