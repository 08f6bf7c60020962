package azure

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
	"github.com/credkit/credkit/provider"
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
	fp     string
	at     time.Time
	claims tokenClaims
}

var (
	_ credential.Provider  = (*TokenProvider)(nil)
	_ credential.Describer = (*TokenProvider)(nil)
	_ credential.Minter    = (*TokenProvider)(nil)
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
	// The one value check of every backend: empty, NUL, CR or LF is
	// ErrInvalid (one trailing newline is trimmed).
	token, err := field.Value(tok.Token, 0)
	if err != nil {
		return credential.Version{}, field.Annotate(err, "token", scope)
	}
	now := p.clock.Now()
	if !tok.ExpiresOn.IsZero() && !now.Before(tok.ExpiresOn) {
		return credential.Version{}, &credential.Error{Op: "token", Ref: scope, Kind: credential.ErrExpired, Reason: "the credential returned an expired token"}
	}
	s := credential.NewSecret(token)
	fp := s.Fingerprint()
	p.mu.Lock()
	f, ok := p.seen[scope]
	if !ok || f.fp != fp {
		f = firstSeen{fp: fp, at: now, claims: claimsOf(tok.Token)}
		p.seen[scope] = f
	}
	p.mu.Unlock()
	return credential.Version{Secret: s, ID: fp, Created: f.at, Expires: tok.ExpiresOn}, nil
}

// entraAuthority is Entra ID's public-cloud authority, the issuer reported
// when a token's own "iss" claim cannot be read.
const entraAuthority = "https://login.microsoftonline.com/"

// Describe reports the token as short-lived (Metadata.ShortLived), for the
// scope's resource as System ("cognitiveservices.azure.com"), with its
// issuer and subject from the token's claims: Description.Issuer is its
// "iss" (https://sts.windows.net/TENANT/ or
// https://login.microsoftonline.com/TENANT/v2.0), Description.Subject the
// principal it was issued to: the application (client) ID of the app or
// managed identity ("appid", or "azp" in v2.0 tokens), else its object ID
// ("oid"), else "sub". Before the first Fetch it asks the TokenCredential
// for a token (azidentity's credentials cache it: the next Fetch gets the
// same one without a request); a token that is not a readable JWT gives
// the Entra ID authority, with the tenant when one is set, as issuer and no
// subject. Describe never fails the opening of a credential.
func (p *TokenProvider) Describe(ctx context.Context, scope string) (credential.Description, error) {
	d := credential.Description{Metadata: credential.Metadata{ShortLived: true}}
	if u, err := url.Parse(scope); err == nil && u.Host != "" {
		d.Metadata.System = u.Host
	}
	p.mu.Lock()
	f, ok := p.seen[scope]
	p.mu.Unlock()
	c := f.claims
	if !ok && p.cred != nil && validScope(scope) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		tok, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}, TenantID: p.tenant})
		cancel()
		if err == nil {
			c = claimsOf(tok.Token)
		}
	}
	d.Issuer, d.Subject = c.Iss, c.principal()
	if d.Issuer == "" {
		d.Issuer = entraAuthority + p.tenant
	}
	return d, nil
}

// tokenClaims are the identifying claims of an Entra ID access token.
type tokenClaims struct {
	Iss   string `json:"iss"`
	AppID string `json:"appid"`
	Azp   string `json:"azp"`
	Oid   string `json:"oid"`
	Sub   string `json:"sub"`
}

func (c tokenClaims) principal() string {
	for _, s := range []string{c.AppID, c.Azp, c.Oid, c.Sub} {
		if s != "" {
			return s
		}
	}
	return ""
}

// claimsOf reads the identifying claims of a JWT access token, without
// verifying it (they are only reported); anything else gives none. Claims
// longer than an identifier, or holding control bytes, are dropped.
func claimsOf(tok string) tokenClaims {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return tokenClaims{}
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return tokenClaims{}
	}
	var c tokenClaims
	if json.Unmarshal(b, &c) != nil {
		return tokenClaims{}
	}
	for _, s := range []*string{&c.Iss, &c.AppID, &c.Azp, &c.Oid, &c.Sub} {
		if len(*s) > 256 || strings.ContainsFunc(*s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			*s = ""
		}
	}
	return c
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
	// The one settings rule of every opener: an unknown or repeated
	// setting, or user info, is ErrInvalid naming the setting, never its
	// value; errors print the URL through credential.SafeRef.
	// A host, path or fragment is not printed: it may be a value pasted
	// in the wrong place.
	shown := *u
	shown.Host, shown.Path, shown.RawPath, shown.Fragment, shown.RawFragment = "", "", "", "", ""
	q, err := provider.Settings(&shown, "scope", "tenant")
	if err != nil {
		return nil, "", err
	}
	bad := func(reason string) error { return provider.OpenError(&shown, credential.ErrInvalid, reason) }
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, "", bad("azure-token:// takes only settings: azure-token://?scope=SCOPE[&tenant=TENANT]")
	}
	scope := q["scope"]
	if scope == "" {
		scope = CognitiveServicesScope
	}
	if !validScope(scope) {
		return nil, "", bad("setting \"scope\" is not an Entra ID scope")
	}
	tenant := q["tenant"]
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
			e := provider.OpenError(&shown, credential.ErrPermission, "no Azure credential (DefaultAzureCredential)")
			e.Err = err
			return nil, "", e
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
