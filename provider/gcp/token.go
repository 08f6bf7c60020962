package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
	"github.com/credkit/credkit/provider"
)

// CloudPlatformScope is the OAuth 2.0 scope of Vertex AI and most Google
// Cloud APIs, the default of [TokenProvider].
const CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// TokenProvider mints Google OAuth 2.0 access tokens from Application
// Default Credentials (a service account key file, gcloud's user
// credentials, workload identity federation, or the metadata server of
// GCE, GKE and Cloud Run), for Vertex AI and other Google APIs that take a
// bearer token rather than an API key.
//
// Its ref is the space-separated list of scopes ("" means
// [CloudPlatformScope]). Each Fetch mints a token: Version.Expires is the
// token's expiry, Version.ID the token's keyed fingerprint, and rotate
// caches it and refreshes it ahead of its expiry, so the token source
// keeps no cache of its own. It is safe for concurrent use.
type TokenProvider struct {
	find   func(ctx context.Context, scopes ...string) (oauth2.TokenSource, error)
	clock  credential.Clock
	client *http.Client
	custom bool // WithTokenSource: not Application Default Credentials
}

var (
	_ credential.Provider  = (*TokenProvider)(nil)
	_ credential.Describer = (*TokenProvider)(nil)
	_ credential.Minter    = (*TokenProvider)(nil)
)

// Mints implements credential.Minter: every Fetch mints a token, so rotate
// refreshes it ahead of its expiry only, never at its poll interval.
func (p *TokenProvider) Mints() bool { return true }

// TokenOption configures a [TokenProvider].
type TokenOption func(*TokenProvider)

// WithTokenSource makes every Fetch use ts instead of Application Default
// Credentials (whatever the ref's scopes: ts has its own). Do not wrap ts
// in oauth2.ReuseTokenSource: rotate does the caching.
func WithTokenSource(ts oauth2.TokenSource) TokenOption {
	return func(p *TokenProvider) {
		p.find = func(context.Context, ...string) (oauth2.TokenSource, error) { return ts, nil }
		p.custom = true
	}
}

// WithTokenClock sets the clock that turns a token's expires_in into
// Version.Expires (default credential.SystemClock).
func WithTokenClock(c credential.Clock) TokenOption {
	return func(p *TokenProvider) { p.clock = credential.ClockOrSystem(c) }
}

// WithTokenHTTPClient sets the HTTP client of the token requests (default:
// a client bounded by the Fetch's deadline, or 30 s).
func WithTokenHTTPClient(c *http.Client) TokenOption {
	return func(p *TokenProvider) { p.client = c }
}

// NewTokenProvider returns a TokenProvider using Application Default
// Credentials, found afresh at each Fetch (a rotated key file is picked
// up).
func NewTokenProvider(opts ...TokenOption) *TokenProvider {
	p := &TokenProvider{clock: credential.SystemClock}
	p.find = func(ctx context.Context, scopes ...string) (oauth2.TokenSource, error) {
		creds, err := google.FindDefaultCredentials(ctx, scopes...)
		if err != nil {
			return nil, err
		}
		return creds.TokenSource, nil
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// scopes returns the scopes of a ref, sorted and deduplicated.
func scopes(ref string) []string {
	f := strings.FieldsFunc(ref, func(r rune) bool { return r == ' ' || r == ',' })
	if len(f) == 0 {
		return []string{CloudPlatformScope}
	}
	sort.Strings(f)
	out := f[:1]
	for _, s := range f[1:] {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

// Fetch mints an access token for the ref's scopes. Errors never hold the
// token nor the credentials: a missing ADC is ErrUnavailable, a token
// endpoint's refusal (invalid_grant, a disabled service account)
// ErrPermission, other failures ErrUnavailable.
func (p *TokenProvider) Fetch(ctx context.Context, ref string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	if strings.ContainsAny(ref, "\x00\r\n\t") {
		return credential.Version{}, invalid("fetch", "", "scopes hold a control character")
	}
	sc := scopes(ref)
	hc := p.client
	if hc == nil {
		timeout := 30 * time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		hc = &http.Client{Timeout: timeout}
	}
	hctx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	ts, err := p.find(hctx, sc...)
	if err != nil {
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: "gcp-token", Kind: credential.ErrUnavailable, Reason: "no Application Default Credentials"}
	}
	now := p.clock.Now()
	tok, err := ts.Token()
	if err != nil {
		if ctx.Err() != nil {
			return credential.Version{}, ctx.Err()
		}
		kind, reason := credential.ErrUnavailable, "the token endpoint could not be reached"
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			reason = "the token endpoint answered " + http.StatusText(re.Response.StatusCode)
			if c := oauthErrorCode(re); c != "" {
				reason += " (" + c + ")"
			}
			if re.Response.StatusCode == http.StatusBadRequest || re.Response.StatusCode == http.StatusUnauthorized || re.Response.StatusCode == http.StatusForbidden {
				kind = credential.ErrPermission
			}
		}
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: "gcp-token", Kind: kind, Reason: reason}
	}
	at, err := field.Value(tok.AccessToken, 0)
	if err != nil {
		return credential.Version{}, field.Annotate(err, "fetch", "gcp-token")
	}
	v := credential.Version{Secret: credential.NewSecret(at), Created: now, Expires: tok.Expiry}
	// The expiry on the provider's clock: from expires_in, or from the
	// time left until the token source's Expiry.
	switch {
	case tok.ExpiresIn > 0:
		v.Expires = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	case !tok.Expiry.IsZero():
		v.Expires = now.Add(time.Until(tok.Expiry).Round(time.Second))
	}
	v.ID = v.Secret.Fingerprint()
	return v, nil
}

// TokenOpener opens gcp-token:// URLs for a provider.URLMux:
//
//	mux.Register("gcp-token", gcp.NewTokenOpener())
//	gcp-token://?scope=https://www.googleapis.com/auth/cloud-platform
//
// The only setting is scope, a space- or comma-separated list (default
// [CloudPlatformScope]); an unknown or repeated setting is ErrInvalid. All
// URLs share one [TokenProvider]; the ref is the sorted scope list.
type TokenOpener struct {
	p *TokenProvider
}

// NewTokenOpener returns a TokenOpener whose provider has opts.
func NewTokenOpener(opts ...TokenOption) *TokenOpener {
	return &TokenOpener{p: NewTokenProvider(opts...)}
}

// OpenURL implements provider.Opener.
func (o *TokenOpener) OpenURL(_ context.Context, u *url.URL) (credential.Provider, string, error) {
	set, err := provider.Settings(u, "scope")
	if err != nil {
		return nil, "", err
	}
	if strings.Trim(u.Host+u.Path, "/") != "" || u.Fragment != "" {
		return nil, "", provider.OpenError(u, credential.ErrInvalid, "gcp-token:// takes no path or #field, only ?scope=")
	}
	if strings.ContainsAny(set["scope"], "\x00\r\n\t") {
		return nil, "", provider.OpenError(u, credential.ErrInvalid, "setting \"scope\" holds a control character")
	}
	return o.p, strings.Join(scopes(set["scope"]), " "), nil
}

// oauthErrorCode returns the OAuth 2.0 error code of a token endpoint's
// refusal ("invalid_grant"), or "" when it is not a plain code: only the
// code, never the description or the body, reaches an error.
func oauthErrorCode(re *oauth2.RetrieveError) string {
	c := re.ErrorCode
	if c == "" {
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			c = body.Error
		}
	}
	if c == "" || len(c) > 40 {
		return ""
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r == '_') {
			return ""
		}
	}
	return c
}
