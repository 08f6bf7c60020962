package oauth2

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	xoauth2 "golang.org/x/oauth2"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

// Opener opens oauth2:// URLs for a provider.URLMux:
//
//	mux := provider.NewURLMux()
//	mux.Register("oauth2", oauth2.NewOpener(mux))
//
// The URL names the token endpoint by host and path (https; http only on a
// loopback host) and the grant by its settings:
//
//	oauth2://login.example.com/oauth2/token?grant=client_credentials&client_id=svc-rag&client_secret=file:///run/secrets/rag-client&scope=embed.read
//	oauth2://auth.openai.com/oauth/token?grant=token_exchange&preset=openai&subject=file:///var/run/secrets/openai/token&param.identity_provider_id=idp_123&param.service_account_id=svc_456
//	oauth2://api.anthropic.com/v1/oauth/token?grant=jwt_bearer&preset=anthropic&subject=gcp-identity&subject_audience=https://api.anthropic.com&param.federation_rule_id=fdrl_1&param.organization_id=org_1
//
// Settings:
//
//	grant               client_credentials (default), token_exchange, jwt_bearer
//	client_id           the client id
//	client_secret       a credkit URL of the client secret (file:///..., env://..., aws-sm://...),
//	                    resolved through the Opener's resolver: never the secret itself
//	auth                header (default) or params: where a form request puts the client credentials
//	scope               space-separated scopes
//	audience, resource  RFC 8693's audience and resource
//	subject             where the subject token (token_exchange) or assertion (jwt_bearer) comes from:
//	                      file:///PATH             a rotated token file ([File]; Kubernetes projected token)
//	                      gcp-identity             GCP metadata server ID token ([GCPIdentity]; needs subject_audience)
//	                      azure-managed-identity   Azure IMDS token ([AzureManagedIdentity]; needs subject_resource)
//	                      any other credkit URL    resolved through the Opener's resolver
//	subject_audience    the audience of a gcp-identity token
//	subject_resource    the resource of an azure-managed-identity token
//	subject_client_id   the user-assigned identity of an azure-managed-identity token
//	subject_type        jwt, id_token, access_token, or a token type URN
//	requested_token_type  RFC 8693's requested_token_type (a URN)
//	format              form (default) or json
//	preset              openai (format json) or anthropic (format json and its beta header)
//	param.NAME          a further body parameter NAME ("param.identity_provider_id=idp_123")
//
// A value holding "&" or "#" is percent-encoded. An unknown or repeated
// setting, a secret or token written into the URL, or a missing required
// setting is ErrInvalid, naming the setting and never its value. URLs with
// the same settings share one [Provider]. The ref is the token endpoint.
type Opener struct {
	r     credential.Resolver
	opts  []Option
	gcp   string
	azure string
	meta  *http.Client

	mu    sync.Mutex
	cache map[string]*Provider
}

// OpenerOption configures an [Opener].
type OpenerOption interface{ applyOpener(*Opener) }

type openerOptionFunc func(*Opener)

func (f openerOptionFunc) applyOpener(o *Opener) { f(o) }

// WithProviderOptions passes options to every Provider the Opener makes.
func WithProviderOptions(opts ...Option) OpenerOption {
	return openerOptionFunc(func(o *Opener) { o.opts = append(o.opts, opts...) })
}

// WithMetadataEndpoints overrides GCPMetadataIdentityURL and
// AzureIMDSTokenURL for the subjects the Opener makes ("" keeps the
// default), and sets the client of their requests (nil keeps a client with
// a 5 s timeout). Tests point them at fakes.
func WithMetadataEndpoints(gcp, azure string, c *http.Client) OpenerOption {
	return openerOptionFunc(func(o *Opener) { o.gcp, o.azure, o.meta = gcp, azure, c })
}

// NewOpener returns an Opener that resolves the credkit URLs of client
// secrets and subjects through r (usually the mux it is registered on); r
// may be nil, and such URLs are then refused.
func NewOpener(r credential.Resolver, opts ...OpenerOption) *Opener {
	o := &Opener{r: r, cache: map[string]*Provider{}}
	for _, f := range opts {
		if f != nil {
			f.applyOpener(o)
		}
	}
	return o
}

var openerSettings = []string{
	"grant", "client_id", "client_secret", "auth", "scope", "audience", "resource",
	"subject", "subject_audience", "subject_resource", "subject_client_id", "subject_type",
	"requested_token_type", "format", "preset",
}

// OpenURL implements provider.Opener.
func (o *Opener) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	// Every refusal prints the URL through provider.OpenError with every
	// setting's value blanked: a setting may name a secret's location or
	// an identity, or be a secret pasted by mistake.
	shown := provider.WithoutValues(u)
	shown.Fragment, shown.RawFragment = "", "" // oauth2:// takes none: it may be anything
	bad := func(reason string) (credential.Provider, string, error) {
		return nil, "", provider.OpenError(shown, credential.ErrInvalid, reason)
	}
	// The one settings rule of every opener (provider.Settings): user
	// info, an unknown or a repeated setting is ErrInvalid naming the
	// setting, never its value. param.NAME settings are known by their
	// prefix.
	known := openerSettings
	if q, err := url.ParseQuery(u.RawQuery); err == nil {
		names := make([]string, 0, len(q))
		for k := range q {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if name, ok := strings.CutPrefix(k, "param."); ok {
				if name == "" || reserved[name] {
					return bad("setting " + strconv.Quote(k) + " names a parameter the grant sets itself")
				}
				known = append(known[:len(known):len(known)], k)
			}
		}
	}
	nofrag := *u
	nofrag.Fragment, nofrag.RawFragment = "", ""
	all, err := provider.Settings(&nofrag, known...)
	if err != nil {
		return nil, "", err
	}
	if u.Host == "" {
		return bad("oauth2:// needs the token endpoint's host and path (oauth2://HOST/PATH)")
	}
	if u.Fragment != "" {
		return bad("oauth2:// takes no #field")
	}
	set := map[string]string{}
	params := map[string]string{}
	for k, v := range all {
		if name, ok := strings.CutPrefix(k, "param."); ok {
			params[name] = v
			continue
		}
		set[k] = v
	}
	if v, ok := set["client_secret"]; ok && !strings.Contains(v, "://") {
		return bad(`setting "client_secret" must be a credkit URL (file:///..., env://...): a secret never goes in the URL`)
	}

	scheme := "https"
	if isLoopback(u.Hostname()) {
		scheme = "http"
	}
	cfg := Config{
		TokenURL: scheme + "://" + u.Host + u.EscapedPath(),
		ClientID: set["client_id"],
		Audience: set["audience"],
		Resource: set["resource"],
	}
	if s := set["scope"]; s != "" {
		cfg.Scopes = strings.Fields(s)
	}
	if len(params) > 0 {
		cfg.Params = params
	}
	switch set["auth"] {
	case "", "header":
		cfg.AuthStyle = xoauth2.AuthStyleInHeader
	case "params":
		cfg.AuthStyle = xoauth2.AuthStyleInParams
	default:
		return bad(`setting "auth" must be header or params`)
	}
	switch set["format"] {
	case "", "form":
	case "json":
		cfg.JSON = true
	default:
		return bad(`setting "format" must be form or json`)
	}
	switch set["preset"] {
	case "":
	case "openai":
		cfg.JSON = true
	case "anthropic":
		cfg.JSON = true
		cfg.Header = http.Header{"Anthropic-Beta": {AnthropicOAuthBeta + "," + AnthropicFederationBeta}}
	default:
		return bad(`setting "preset" must be openai or anthropic`)
	}
	switch t := set["subject_type"]; t {
	case "":
	case "jwt":
		cfg.SubjectTokenType = TokenTypeJWT
	case "id_token":
		cfg.SubjectTokenType = TokenTypeIDToken
	case "access_token":
		cfg.SubjectTokenType = TokenTypeAccessToken
	default:
		if !strings.HasPrefix(t, "urn:") {
			return bad(`setting "subject_type" must be jwt, id_token, access_token or a URN`)
		}
		cfg.SubjectTokenType = t
	}
	cfg.RequestedTokenType = set["requested_token_type"]

	key := canonicalKey(u.Host+u.EscapedPath(), all)
	o.mu.Lock()
	p, ok := o.cache[key]
	o.mu.Unlock()
	if ok {
		return p, p.issuer, nil
	}

	if ref, ok := set["client_secret"]; ok {
		src, err := o.resolve(ctx, ref)
		if err != nil {
			return bad(`setting "client_secret" must be a credkit URL the resolver knows`)
		}
		cfg.ClientSecret = src
	}
	var subject Source
	if ref, ok := set["subject"]; ok {
		switch {
		case ref == "gcp-identity":
			if set["subject_audience"] == "" {
				return bad(`subject gcp-identity needs the setting "subject_audience"`)
			}
			subject = &GCPIdentity{Audience: set["subject_audience"], Endpoint: o.gcp, Client: o.meta}
		case ref == "azure-managed-identity":
			if set["subject_resource"] == "" {
				return bad(`subject azure-managed-identity needs the setting "subject_resource"`)
			}
			subject = &AzureManagedIdentity{Resource: set["subject_resource"], ClientID: set["subject_client_id"], Endpoint: o.azure, Client: o.meta}
		case strings.HasPrefix(ref, "file://"):
			fu, err := url.Parse(ref)
			if err != nil || (fu.Host != "" && fu.Host != "localhost") || !filepath.IsAbs(filepath.FromSlash(fu.Path)) || fu.RawQuery != "" {
				return bad(`setting "subject" must be file:///ABSOLUTE/PATH for a token file`)
			}
			subject = NewFile(filepath.FromSlash(fu.Path))
		default:
			src, err := o.resolve(ctx, ref)
			if err != nil {
				return bad(`setting "subject" must be file:///PATH, gcp-identity, azure-managed-identity or a credkit URL the resolver knows`)
			}
			subject = src
		}
	}
	var perr error
	switch set["grant"] {
	case "", "client_credentials":
		if subject != nil {
			return bad(`setting "subject" is for the token_exchange and jwt_bearer grants`)
		}
		p, perr = ClientCredentials(cfg, o.opts...)
	case "token_exchange":
		if subject == nil {
			return bad(`grant token_exchange needs the setting "subject"`)
		}
		p, perr = TokenExchange(cfg, subject, o.opts...)
	case "jwt_bearer":
		if subject == nil {
			return bad(`grant jwt_bearer needs the setting "subject"`)
		}
		p, perr = JWTBearer(cfg, subject, o.opts...)
	default:
		return bad(`setting "grant" must be client_credentials, token_exchange or jwt_bearer`)
	}
	if perr != nil {
		if ce, ok := perr.(*credential.Error); ok {
			return bad(ce.Reason)
		}
		return bad("invalid configuration")
	}
	o.mu.Lock()
	if prev, ok := o.cache[key]; ok {
		p = prev
	} else {
		o.cache[key] = p
	}
	o.mu.Unlock()
	return p, p.issuer, nil
}

func (o *Opener) resolve(ctx context.Context, rawURL string) (Source, error) {
	if o.r == nil {
		return nil, credential.ErrInvalid
	}
	p, ref, err := o.r.Resolve(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return FromProvider(p, ref), nil
}

func canonicalKey(endpoint string, set map[string]string) string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(endpoint)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + set[k])
	}
	return b.String()
}
