package oauth2

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	xoauth2 "golang.org/x/oauth2"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
)

// Grant names, as the Describer reports them in the "grant" tag.
const (
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantTokenSource       = "token_source"
)

// Token types of RFC 8693, for [Config.SubjectTokenType].
const (
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// TagGrant is the credential.Metadata.Tags key under which the Describer
// reports the grant type (the issuer and subject have fields of their own
// in credential.Description).
const TagGrant = "grant"

// maxToken bounds an access token, a subject token or an assertion: honest
// tokens are far smaller, and a runaway file or response must not become a
// credential.
const maxToken = 16 << 10

// Config is what every grant of this package shares. Only TokenURL is
// required (except by [FromTokenSource], which takes none of it).
type Config struct {
	// TokenURL is the token endpoint. It must be https, except on a loopback
	// host (a test fake, a local sidecar).
	TokenURL string
	// ClientID identifies the client, when the grant authenticates one.
	ClientID string
	// ClientSecret supplies the client secret, read at every grant (so a
	// rotated secret file is picked up). Nil: no client secret.
	ClientSecret Source
	// AuthStyle is how a form-encoded request authenticates the client:
	// xoauth2.AuthStyleInHeader (HTTP Basic, the default: every server must
	// accept it) or xoauth2.AuthStyleInParams. Auto-detection is not used:
	// it sends a refused request twice.
	AuthStyle xoauth2.AuthStyle
	// Scopes are requested in the "scope" parameter, space separated.
	Scopes []string
	// Audience and Resource are RFC 8693's "audience" and "resource"
	// parameters (also accepted by many servers on other grants).
	Audience string
	Resource string
	// SubjectTokenType is the type of the subject token of a token exchange
	// (TokenTypeJWT, TokenTypeIDToken...). Empty: the subject source's own
	// type when it has one ([TokenTyper]), else TokenTypeJWT.
	SubjectTokenType string
	// RequestedTokenType is RFC 8693's "requested_token_type"; empty leaves
	// it out.
	RequestedTokenType string
	// Params are further body parameters ("identity_provider_id" for
	// OpenAI, "federation_rule_id" for Anthropic). They must not repeat a
	// parameter the grant sets itself.
	Params map[string]string
	// Header holds headers sent with every token request
	// ("anthropic-beta" for Anthropic).
	Header http.Header
	// JSON sends the request body as a JSON object instead of the form
	// encoding of RFC 6749 (OpenAI's and Anthropic's token endpoints take
	// JSON). The client id and secret then go in the body.
	JSON bool
}

// Provider mints short-lived access tokens through one OAuth 2.0 grant. It
// is a credential.Provider: each Fetch mints a token and returns it as a
// credential.Version whose Expires is the token's expiry, so rotate.Watch
// refreshes it ahead of expiry and never serves it expired. The ref passed
// to Fetch only labels errors: one Provider mints one kind of token.
//
// Concurrent Fetch calls share one request to the token endpoint. The
// Provider itself never retries: a refused grant fails at once
// (credential.ErrPermission) and the caller (rotate) backs off.
//
// A Provider is safe for concurrent use.
type Provider struct {
	grant   string
	issuer  string
	cfg     Config
	subject Source
	ts      xoauth2.TokenSource
	o       options

	mu      sync.Mutex
	flight  *call
	lastSub string // "sub" claim of the subject last presented
}

type call struct {
	done    chan struct{}
	v       credential.Version
	err     error
	waiters int // callers that joined it; under Provider.mu
}

var (
	_ credential.Provider  = (*Provider)(nil)
	_ credential.Describer = (*Provider)(nil)
	_ credential.Minter    = (*Provider)(nil)
)

// Option configures a [Provider]. Defaults are listed with each With
// function.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	clock   credential.Clock
	client  *http.Client
	timeout time.Duration
	life    time.Duration
}

// WithClock sets the clock that dates tokens (default
// credential.SystemClock). A token's expiry is the clock's time before the
// request plus the expires_in of the answer.
func WithClock(c credential.Clock) Option {
	return optionFunc(func(o *options) { o.clock = credential.ClockOrSystem(c) })
}

// WithHTTPClient sets the client of token requests (default: a client with
// http.DefaultTransport). Redirects are never followed, whatever the
// client's policy: a token request goes only to its endpoint.
func WithHTTPClient(c *http.Client) Option {
	return optionFunc(func(o *options) {
		if c != nil {
			o.client = c
		}
	})
}

// WithTimeout bounds each token request (default 30 s).
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	})
}

// WithDefaultLifetime sets the lifetime of a token whose answer has no
// expires_in and which is not a JWT with an "exp" claim (default 1 hour):
// such a token is still refreshed, rather than kept forever.
func WithDefaultLifetime(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.life = d
		}
	})
}

var errRedirect = errors.New("oauth2: token requests do not follow redirects")

func newOptions(opts []Option) options {
	o := options{clock: credential.SystemClock, timeout: 30 * time.Second, life: time.Hour}
	for _, f := range opts {
		if f != nil {
			f.apply(&o)
		}
	}
	base := o.client
	if base == nil {
		base = &http.Client{}
	}
	c := *base
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	o.client = &c
	return o
}

// ClientCredentials returns a Provider for RFC 6749's client credentials
// grant: the client authenticates with its id and secret and gets a token
// for itself. The request goes through golang.org/x/oauth2/clientcredentials
// (form encoding), or as JSON when cfg.JSON is set.
func ClientCredentials(cfg Config, opts ...Option) (*Provider, error) {
	if cfg.ClientID == "" {
		return nil, configError("the client credentials grant needs a client id")
	}
	return newProvider(GrantClientCredentials, cfg, nil, opts)
}

// TokenExchange returns a Provider for RFC 8693 token exchange: it presents
// the subject token read from subject at every grant (a Kubernetes
// service-account token file, a GCP ID token, an Azure managed-identity
// token) and gets an access token for it. OpenAI's workload identity
// federation is a configuration of it (see the package doc).
func TokenExchange(cfg Config, subject Source, opts ...Option) (*Provider, error) {
	if subject == nil {
		return nil, configError("token exchange needs a subject token source")
	}
	return newProvider(GrantTokenExchange, cfg, subject, opts)
}

// JWTBearer returns a Provider for RFC 7523's JWT bearer grant: it presents
// the JWT read from assertion at every grant as the "assertion" parameter.
// Anthropic's OIDC federation is a configuration of it (see the package
// doc).
func JWTBearer(cfg Config, assertion Source, opts ...Option) (*Provider, error) {
	if assertion == nil {
		return nil, configError("the JWT bearer grant needs an assertion source")
	}
	return newProvider(GrantJWTBearer, cfg, assertion, opts)
}

// FromTokenSource adapts any golang.org/x/oauth2 TokenSource: each Fetch
// calls ts.Token and returns its access token with its Expiry (a zero
// Expiry becomes the default lifetime). issuer names the token's issuer for
// the inventory ("" when unknown). ts must be safe for concurrent use, as
// TokenSource's contract says; wrap a caching source (ReuseTokenSource)
// only if it refreshes ahead of expiry, or rotate will be handed the same
// token until it expires. Its expiry is on the system clock, whatever
// WithClock says.
func FromTokenSource(ts xoauth2.TokenSource, issuer string, opts ...Option) *Provider {
	return &Provider{grant: grantTokenSource, issuer: issuer, ts: ts, o: newOptions(opts)}
}

// reserved are the parameters a grant sets itself.
var reserved = map[string]bool{
	"grant_type": true, "client_id": true, "client_secret": true, "scope": true,
	"audience": true, "resource": true, "subject_token": true, "subject_token_type": true,
	"requested_token_type": true, "assertion": true, "actor_token": true, "actor_token_type": true,
}

func newProvider(grant string, cfg Config, subject Source, opts []Option) (*Provider, error) {
	issuer, err := checkTokenURL(cfg.TokenURL)
	if err != nil {
		return nil, err
	}
	for k := range cfg.Params {
		if k == "" || reserved[k] {
			return nil, configError("parameter " + strconv.Quote(k) + " is set by the grant itself")
		}
	}
	switch cfg.AuthStyle {
	case xoauth2.AuthStyleAutoDetect:
		cfg.AuthStyle = xoauth2.AuthStyleInHeader
	case xoauth2.AuthStyleInHeader, xoauth2.AuthStyleInParams:
	default:
		return nil, configError("unknown AuthStyle")
	}
	if cfg.Header != nil {
		cfg.Header = cfg.Header.Clone()
	}
	return &Provider{grant: grant, issuer: issuer, cfg: cfg, subject: subject, o: newOptions(opts)}, nil
}

// checkTokenURL returns the issuer (the URL without query or fragment).
func checkTokenURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", configError("TokenURL must be an absolute URL without user info")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", configError("TokenURL must be https (http only on a loopback host)")
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath(), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func configError(reason string) error {
	return &credential.Error{Op: "open", Kind: credential.ErrInvalid, Reason: reason}
}

// Issuer returns the token endpoint (for FromTokenSource, the issuer it was
// given).
func (p *Provider) Issuer() string { return p.issuer }

// Mints implements credential.Minter: every Fetch mints a token, so rotate
// refreshes it ahead of its expiry only, never at its poll interval.
func (p *Provider) Mints() bool { return true }

// Fetch mints a token. Concurrent calls share one request; a caller whose
// context ends stops waiting, and the request goes on for the others.
func (p *Provider) Fetch(ctx context.Context, ref string) (credential.Version, error) {
	for {
		p.mu.Lock()
		f := p.flight
		if f == nil {
			f = &call{done: make(chan struct{})}
			p.flight = f
			p.mu.Unlock()
			f.v, f.err = p.mint(ctx, ref)
			p.mu.Lock()
			p.flight = nil
			p.mu.Unlock()
			close(f.done)
			return f.v, f.err
		}
		f.waiters++
		p.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return credential.Version{}, ctx.Err()
		}
		// The shared request ended because its own caller gave up: try
		// again on this caller's context.
		if isContextErr(f.err) && ctx.Err() == nil {
			continue
		}
		return f.v, f.err
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// tokenAnswer is a parsed token response.
type tokenAnswer struct {
	access    string
	typ       string
	expiresIn int64 // seconds; 0 when absent
	expiry    time.Time
}

func (p *Provider) mint(ctx context.Context, ref string) (credential.Version, error) {
	if ref == "" {
		ref = p.issuer
	}
	outer := ctx
	ctx, cancel := context.WithTimeout(ctx, p.o.timeout)
	defer cancel()
	now := p.o.clock.Now()
	var (
		a   tokenAnswer
		err error
	)
	if p.ts != nil {
		a, err = p.fromTokenSource(ctx)
	} else {
		a, err = p.request(ctx)
	}
	if err != nil {
		if isContextErr(err) {
			if outer.Err() != nil {
				return credential.Version{}, outer.Err()
			}
			// The Provider's own timeout, not the caller's: the endpoint
			// is too slow, which is unavailability.
			return credential.Version{}, fetchError(ref, credential.ErrUnavailable, "the token endpoint did not answer within "+p.o.timeout.String())
		}
		var ce *credential.Error
		if errors.As(err, &ce) && ce.Ref == "" {
			cp := *ce
			cp.Ref = ref
			return credential.Version{}, &cp
		}
		return credential.Version{}, err
	}
	if a.access == "" {
		return credential.Version{}, fetchError(ref, credential.ErrInvalid, "the token endpoint returned no access token")
	}
	// The one value check of every backend (field.Value): over 16 KiB,
	// not UTF-8, NUL, CR or LF is ErrInvalid; one trailing newline is
	// trimmed.
	access, err := field.Value(a.access, maxToken)
	if err != nil {
		return credential.Version{}, field.Annotate(err, "fetch", ref)
	}
	a.access = access
	s := credential.NewSecret(a.access)
	exp := a.expiry
	switch {
	case a.expiresIn > 0:
		exp = now.Add(time.Duration(a.expiresIn) * time.Second)
	case exp.IsZero():
		if e, ok := jwtExpiry(a.access); ok {
			exp = e
		} else {
			exp = now.Add(p.o.life)
		}
	}
	if !exp.After(now) {
		return credential.Version{}, fetchError(ref, credential.ErrExpired, "the token endpoint returned a token that has already expired")
	}
	return credential.Version{Secret: s, ID: s.Fingerprint(), Created: now, Expires: exp}, nil
}

func fetchError(ref string, kind error, reason string) error {
	return &credential.Error{Op: "fetch", Ref: ref, Kind: kind, Reason: reason}
}

func (p *Provider) fromTokenSource(ctx context.Context) (tokenAnswer, error) {
	type result struct {
		t   *xoauth2.Token
		err error
	}
	// A TokenSource takes no context: run it aside so that ctx still
	// bounds the wait.
	ch := make(chan result, 1)
	go func() {
		t, err := p.ts.Token()
		ch <- result{t, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return tokenAnswer{}, ctx.Err()
	}
	if r.err != nil {
		return tokenAnswer{}, classifyLibError(r.err)
	}
	if r.t == nil {
		return tokenAnswer{}, &credential.Error{Op: "fetch", Kind: credential.ErrInvalid, Reason: "the token source returned no token"}
	}
	return tokenAnswer{access: r.t.AccessToken, typ: r.t.TokenType, expiry: r.t.Expiry}, nil
}

// jwtExpiry reads the "exp" claim of a JWT-shaped token, without verifying
// it (the issuer's word on its own token's life is all that is needed).
func jwtExpiry(tok string) (time.Time, bool) {
	c, ok := jwtClaims(tok)
	if !ok || c.Exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(c.Exp), 0), true
}

type claims struct {
	Sub string  `json:"sub"`
	Exp float64 `json:"exp"`
}

func jwtClaims(tok string) (claims, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(tok) > maxToken {
		return claims{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return claims{}, false
	}
	var c claims
	if json.Unmarshal(b, &c) != nil {
		return claims{}, false
	}
	return c, true
}

// Describe reports the token as short-lived (Metadata.ShortLived), its
// issuer (Description.Issuer: the token endpoint, scheme, host and path),
// its subject where known (Description.Subject: the client id, or the "sub"
// claim of the subject token or assertion last presented), its grant in
// Metadata.Tags ([TagGrant]) and the requested scopes in Metadata.Scopes.
// Before the first grant, it learns the subject from the "sub" claim of the
// subject token of a [File], [GCPIdentity] or [AzureManagedIdentity] (a
// local read or one metadata-service request); it never calls the token
// endpoint.
func (p *Provider) Describe(ctx context.Context, ref string) (credential.Description, error) {
	md := credential.Metadata{ShortLived: true, Tags: map[string]string{TagGrant: p.grant}}
	if len(p.cfg.Scopes) > 0 {
		md.Scopes = append([]string(nil), p.cfg.Scopes...)
	}
	return credential.Description{Metadata: md, Issuer: p.issuer, Subject: p.subjectName(ctx)}, nil
}

func (p *Provider) subjectName(ctx context.Context) string {
	p.mu.Lock()
	sub := p.lastSub
	p.mu.Unlock()
	if sub != "" {
		return sub
	}
	switch p.subject.(type) {
	case *File, *GCPIdentity, *AzureManagedIdentity:
		// A local file or the instance's metadata service: cheap to ask.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if s, err := p.subject.Value(ctx); err == nil {
			if c, ok := jwtClaims(s.Reveal()); ok {
				return c.Sub
			}
		}
	}
	return p.cfg.ClientID
}

// noteSubject remembers the "sub" claim of a presented subject token.
func (p *Provider) noteSubject(tok string) {
	if c, ok := jwtClaims(tok); ok && c.Sub != "" {
		p.mu.Lock()
		p.lastSub = c.Sub
		p.mu.Unlock()
	}
}
