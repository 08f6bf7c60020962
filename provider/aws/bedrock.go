package aws

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
	"github.com/credkit/credkit/provider"
)

// Bedrock short-term API keys, as AWS's token generators build them
// (aws-bedrock-token-generator-python, -js and -java): a SigV4 presigned
// URL for POST https://bedrock.amazonaws.com/?Action=CallWithBearerToken,
// signed for the service "bedrock" in the key's region, without its
// "https://", with "&Version=1" appended, base64-encoded and prefixed.
const (
	// BedrockKeyPrefix starts every Bedrock API key.
	BedrockKeyPrefix = "bedrock-api-key-"
	// BedrockMaxLifetime is the longest life of a short-term key.
	BedrockMaxLifetime = 12 * time.Hour
	bedrockHost        = "bedrock.amazonaws.com"
	bedrockService     = "bedrock"
	bedrockTokenSuffix = "&Version=1"
	unsignedPayload    = "UNSIGNED-PAYLOAD"
)

// BedrockKeys mints Amazon Bedrock short-term API keys from AWS credentials
// (the default credential chain: environment, shared files, SSO, web
// identity, ECS or EC2 roles). It is a credential.Provider whose ref is the
// region ("us-east-1"): each Fetch signs a new key, locally, with the AWS
// SDK's SigV4 signer — no call to AWS except what the credential chain
// itself makes. The Version's Expires is the key's expiry: its lifetime
// (12 hours by default, [WithBedrockLifetime]) or the expiry of the
// credentials that signed it, whichever is sooner, since a presigned key
// stops working with its credentials. rotate.Watch then refreshes it ahead.
//
// Send it as a bearer token, which is how Bedrock takes API keys (the
// bedrock-runtime endpoints, its OpenAI-compatible /openai/v1 API, and the
// AWS_BEARER_TOKEN_BEDROCK variable of the AWS SDKs):
//
//	&credential.Transport{Credential: key} // Authorization: Bearer bedrock-api-key-...
//
// # Where a bearer key does not fit
//
// Bedrock operations that API keys do not cover, and every other AWS API,
// authenticate with SigV4 per request. There, let the AWS SDK sign: build
// the bedrockruntime (or bedrock) client from the same aws.Config, whose
// credential chain already refreshes its short-lived role credentials
// ahead of expiry:
//
//	cfg, _ := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
//	client := bedrockruntime.NewFromConfig(cfg) // signs every call with SigV4
//
// and give the SDK credkit's observability through its HTTP client rather
// than a key: config.WithHTTPClient(&http.Client{Transport: degrade.NewRoundTripper(...)})
// wraps retries and circuit breaking around the signed requests. Do not put
// a credential.Transport under a SigV4-signed client: it would overwrite the
// Authorization header the signature lives in.
//
// BedrockKeys is safe for concurrent use.
type BedrockKeys struct {
	creds  aws.CredentialsProvider
	life   time.Duration
	clock  credential.Clock
	signer *v4.Signer
}

var (
	_ credential.Provider  = (*BedrockKeys)(nil)
	_ credential.Describer = (*BedrockKeys)(nil)
	_ credential.Minter    = (*BedrockKeys)(nil)
)

// BedrockOption configures [NewBedrockKeys].
type BedrockOption func(*BedrockKeys)

// WithBedrockLifetime sets the keys' lifetime, at most BedrockMaxLifetime
// (12 hours, the default); values outside (0, 12h] are ignored.
func WithBedrockLifetime(d time.Duration) BedrockOption {
	return func(b *BedrockKeys) {
		if d > 0 && d <= BedrockMaxLifetime {
			b.life = d
		}
	}
}

// WithBedrockClock sets the clock that dates keys (default
// credential.SystemClock). The signature carries the clock's time.
func WithBedrockClock(c credential.Clock) BedrockOption {
	return func(b *BedrockKeys) { b.clock = credential.ClockOrSystem(c) }
}

// NewBedrockKeys returns a BedrockKeys signing with creds (for example
// aws.Config.Credentials from config.LoadDefaultConfig).
func NewBedrockKeys(creds aws.CredentialsProvider, opts ...BedrockOption) *BedrockKeys {
	b := &BedrockKeys{creds: creds, life: BedrockMaxLifetime, clock: credential.SystemClock, signer: v4.NewSigner()}
	for _, o := range opts {
		if o != nil {
			o(b)
		}
	}
	return b
}

// validRegion accepts AWS region names ("us-east-1", "us-gov-west-1").
func validRegion(r string) bool {
	if r == "" || len(r) > 32 {
		return false
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Mints implements credential.Minter: every Fetch signs a new key, so
// rotate refreshes it ahead of its expiry only, never at its poll interval.
func (b *BedrockKeys) Mints() bool { return true }

// Fetch signs a new key for region.
func (b *BedrockKeys) Fetch(ctx context.Context, region string) (credential.Version, error) {
	fail := func(kind error, reason string) (credential.Version, error) {
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: region, Kind: kind, Reason: reason}
	}
	if !validRegion(region) {
		// Not printed: a ref that is no region may be a pasted value.
		return credential.Version{}, &credential.Error{Op: "fetch", Kind: credential.ErrInvalid, Reason: "the ref must be an AWS region such as us-east-1"}
	}
	if b.creds == nil {
		return fail(credential.ErrInvalid, "no AWS credentials provider")
	}
	creds, err := b.creds.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return credential.Version{}, ctx.Err()
		}
		// The chain's errors can name files and profiles but hold no key;
		// still, only the kind and a fixed reason are kept.
		return fail(credential.ErrUnavailable, "cannot get AWS credentials from the credential chain")
	}
	if !creds.HasKeys() {
		return fail(credential.ErrPermission, "the credential chain returned no keys")
	}
	now := b.clock.Now()
	expires := now.Add(b.life)
	if creds.CanExpire && creds.Expires.Before(expires) {
		expires = creds.Expires
	}
	life := expires.Sub(now).Truncate(time.Second)
	if life < time.Second {
		return fail(credential.ErrExpired, "the AWS credentials expire before a key could be used")
	}
	q := url.Values{"Action": {"CallWithBearerToken"}, "X-Amz-Expires": {strconv.FormatInt(int64(life/time.Second), 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+bedrockHost+"/?"+q.Encode(), nil)
	if err != nil {
		return fail(credential.ErrInvalid, "cannot build the request to sign")
	}
	signed, _, err := b.signer.PresignHTTP(ctx, creds, req, unsignedPayload, bedrockService, region, now)
	if err != nil {
		return fail(credential.ErrInvalid, "cannot sign the key")
	}
	key := BedrockKeyPrefix + base64.StdEncoding.EncodeToString([]byte(strings.TrimPrefix(signed, "https://")+bedrockTokenSuffix))
	// The one value check of every backend (base64 never fails it).
	if key, err = field.Value(key, 0); err != nil {
		return credential.Version{}, field.Annotate(err, "fetch", region)
	}
	s := credential.NewSecret(key)
	return credential.Version{Secret: s, ID: s.Fingerprint(), Created: now, Expires: now.Add(life)}, nil
}

// Describe reports the key as short-lived (Metadata.ShortLived), its
// issuer (https://bedrock.amazonaws.com, the service the key is presigned
// for), its subject — the access key ID of the AWS credentials that sign
// it, AWS's public identifier of the principal as CloudTrail logs it, never
// the secret key — its System (bedrock-runtime.REGION.amazonaws.com) and
// region ("region" tag). It calls nothing but the credential provider,
// whose credentials the next Fetch needs anyway (config.LoadDefaultConfig
// caches them); when they cannot be had, the subject is left empty.
func (b *BedrockKeys) Describe(ctx context.Context, region string) (credential.Description, error) {
	if !validRegion(region) {
		// Never into the inventory: a ref that is no region may be a
		// pasted value.
		return credential.Description{}, &credential.Error{Op: "describe", Kind: credential.ErrInvalid, Reason: "the ref must be an AWS region such as us-east-1"}
	}
	d := credential.Description{
		Metadata: credential.Metadata{
			ShortLived: true,
			System:     "bedrock-runtime." + region + ".amazonaws.com",
			Tags:       map[string]string{"region": region},
		},
		Issuer: "https://" + bedrockHost,
	}
	if b.creds != nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if c, err := b.creds.Retrieve(ctx); err == nil && c.HasKeys() {
			d.Subject = c.AccessKeyID
		}
	}
	return d, nil
}

// BedrockOpener opens bedrock-key:// URLs for a provider.URLMux:
//
//	mux.Register("bedrock-key", aws.NewBedrockOpener())
//
// URL form: bedrock-key://REGION[?expires=DURATION&profile=P], for example
// bedrock-key://us-east-1?expires=1h. expires is the key's lifetime (a Go
// duration up to 12h; default 12h); profile picks a shared-config profile.
// The credentials come from the default chain, loaded once per profile;
// URLs with the same settings share one [BedrockKeys]. The ref is the
// region. Unknown or repeated settings are ErrInvalid, naming the setting.
type BedrockOpener struct {
	creds aws.CredentialsProvider
	opts  []BedrockOption

	mu    sync.Mutex
	cache map[string]*BedrockKeys
}

// BedrockOpenerOption configures a [BedrockOpener].
type BedrockOpenerOption func(*BedrockOpener)

// WithBedrockCredentials makes every URL sign with creds instead of the
// default chain (profile is then refused).
func WithBedrockCredentials(creds aws.CredentialsProvider) BedrockOpenerOption {
	return func(o *BedrockOpener) { o.creds = creds }
}

// WithBedrockOptions passes options to every BedrockKeys the opener makes.
func WithBedrockOptions(opts ...BedrockOption) BedrockOpenerOption {
	return func(o *BedrockOpener) { o.opts = append(o.opts, opts...) }
}

// NewBedrockOpener returns a BedrockOpener.
func NewBedrockOpener(opts ...BedrockOpenerOption) *BedrockOpener {
	o := &BedrockOpener{cache: map[string]*BedrockKeys{}}
	for _, f := range opts {
		if f != nil {
			f(o)
		}
	}
	return o
}

// OpenURL implements provider.Opener.
func (o *BedrockOpener) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	// The one settings rule of every opener (provider.Settings): user
	// info, an unknown or a repeated setting is ErrInvalid naming the
	// setting, never its value.
	nofrag := *u
	nofrag.Fragment, nofrag.RawFragment = "", ""
	q, err := provider.Settings(&nofrag, "expires", "profile")
	if err != nil {
		return nil, "", err
	}
	// Refusals print the URL through provider.OpenError with every value
	// blanked, and without a host that is not a region (it may be a
	// value pasted in the wrong place) or a fragment.
	shown := provider.WithoutValues(&nofrag)
	region := u.Host
	if !validRegion(region) {
		shown.Host = ""
	}
	bad := func(reason string) (credential.Provider, string, error) {
		return nil, "", provider.OpenError(shown, credential.ErrInvalid, reason)
	}
	if !validRegion(region) || (u.Path != "" && u.Path != "/") {
		return bad("bedrock-key:// takes a region (bedrock-key://us-east-1)")
	}
	if u.Fragment != "" {
		return bad("bedrock-key:// takes no #field")
	}
	var opts []BedrockOption
	if v := q["expires"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > BedrockMaxLifetime {
			return bad(`setting "expires" must be a duration up to 12h`)
		}
		opts = append(opts, WithBedrockLifetime(d))
	}
	profile := q["profile"]
	if profile != "" && o.creds != nil {
		return bad(`setting "profile" cannot be used: the opener has fixed credentials`)
	}
	key := q["expires"] + "|" + profile
	o.mu.Lock()
	defer o.mu.Unlock()
	if b, ok := o.cache[key]; ok {
		return b, region, nil
	}
	creds := o.creds
	if creds == nil {
		var lo []func(*config.LoadOptions) error
		if profile != "" {
			lo = append(lo, config.WithSharedConfigProfile(profile))
		}
		cfg, err := config.LoadDefaultConfig(ctx, lo...)
		if err != nil {
			return nil, "", provider.OpenError(&nofrag, credential.ErrUnavailable, "cannot load the AWS configuration")
		}
		creds = cfg.Credentials
	}
	b := NewBedrockKeys(creds, append(append([]BedrockOption(nil), o.opts...), opts...)...)
	o.cache[key] = b
	return b, region, nil
}
