package aws

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

// Opener opens aws-sm:// URLs for a provider.URLMux:
//
//	mux.Register("aws-sm", aws.NewOpener())
//
// URL form: aws-sm://NAME[#field][?region=R&stage=S&version=V&endpoint=E&profile=P].
// Any other setting, or one given twice, is refused.
// An ARN goes in the path, after an empty host, because its colons cannot
// be a URL host: aws-sm:///arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/openai-AbCdEf#api_key.
//
// The Opener loads the default AWS config chain (environment, shared config
// and credentials files, SSO, IMDS) once per region, profile and endpoint,
// and keeps one Provider for each, so that every credential of a
// rotate.Set served by the same account and region is checked in the same
// batch. It is safe for concurrent use.
type Opener struct {
	client *secretsmanager.Client
	opts   []Option
	load   func(ctx context.Context, region, profile string) (aws.Config, error)

	events *Events

	mu        sync.Mutex
	providers map[string]credential.Provider
}

// OpenerOption configures an Opener.
type OpenerOption func(*Opener)

// WithClient makes every URL use c, ignoring region, profile and endpoint.
func WithClient(c *secretsmanager.Client) OpenerOption { return func(o *Opener) { o.client = c } }

// WithProviderOptions passes options to every Provider the Opener makes.
func WithProviderOptions(opts ...Option) OpenerOption {
	return func(o *Opener) { o.opts = append(o.opts, opts...) }
}

// WithEventQueue pushes the changes e receives to every credential opened
// through the Opener (see [Events]): the providers it makes are
// [PushProvider]s. The queue must receive the events of every region the
// URLs name.
func WithEventQueue(e *Events) OpenerOption { return func(o *Opener) { o.events = e } }

// NewOpener returns an Opener.
func NewOpener(opts ...OpenerOption) *Opener {
	o := &Opener{providers: map[string]credential.Provider{}, load: loadConfig}
	for _, f := range opts {
		f(o)
	}
	return o
}

func loadConfig(ctx context.Context, region, profile string) (aws.Config, error) {
	var lo []func(*config.LoadOptions) error
	if region != "" {
		lo = append(lo, config.WithRegion(region))
	}
	if profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(profile))
	}
	return config.LoadDefaultConfig(ctx, lo...)
}

// openerSettings are the settings of an aws-sm:// URL; any other, or one
// given twice, is refused by provider.Settings.
var openerSettings = []string{"region", "stage", "version", "endpoint", "profile"}

// OpenURL implements provider.Opener. An unknown or repeated setting is
// [credential.ErrInvalid], naming the setting and never its value (see
// provider.Settings).
func (o *Opener) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	id := strings.TrimPrefix(u.Host+u.Path, "/")
	if id == "" {
		return nil, "", provider.OpenError(u, credential.ErrInvalid, "aws-sm:// needs a secret name or ARN")
	}
	q, err := provider.Settings(u, openerSettings...)
	if err != nil {
		return nil, "", err
	}
	ref := id
	sel := url.Values{}
	if s := q["stage"]; s != "" {
		sel.Set("stage", s)
	}
	if v := q["version"]; v != "" {
		sel.Set("version", v)
	}
	if len(sel) > 0 {
		ref += "?" + sel.Encode()
	}
	if u.Fragment != "" {
		ref += "#" + u.Fragment
	}
	region, profile, endpoint := q["region"], q["profile"], q["endpoint"]
	key := region + "|" + profile + "|" + endpoint
	if o.client != nil {
		key = ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := o.providers[key]; ok {
		return p, ref, nil
	}
	c := o.client
	if c == nil {
		cfg, err := o.load(ctx, region, profile)
		if err != nil {
			e := provider.OpenError(u, credential.ErrUnavailable, "cannot load the AWS configuration")
			e.Err = safeCause(err)
			return nil, "", e
		}
		c = secretsmanager.NewFromConfig(cfg, func(so *secretsmanager.Options) {
			if endpoint != "" {
				so.BaseEndpoint = aws.String(endpoint)
			}
		}, fixHTTPClient)
	}
	var p credential.Provider = New(c, o.opts...)
	if o.events != nil {
		p = p.(*Provider).WithEvents(o.events)
	}
	o.providers[key] = p
	return p, ref, nil
}
