package gcp

import (
	"context"
	"net/url"
	"strings"
	"sync"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"google.golang.org/api/option"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

// Opener opens gcp-sm:// URLs for a provider.URLMux:
//
//	mux.Register("gcp-sm", gcp.NewOpener())
//
// URL forms:
//
//	gcp-sm://projects/P/secrets/S[/versions/V][#field]
//	gcp-sm://projects/P/locations/L/secrets/S[/versions/V][#field]
//	…?endpoint=HOST:PORT
//
// V is "latest" (the default), a version number or an alias. A regional
// secret (locations/L) is read through the regional endpoint
// secretmanager.L.rep.googleapis.com:443; the endpoint setting overrides
// the endpoint (a private or test endpoint). An unknown or repeated
// setting is ErrInvalid naming the setting, never its value
// (provider.Settings); errors print the URL through credential.SafeRef.
//
// The Opener creates its clients with Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's credentials, the metadata
// server of GCE, GKE or Cloud Run), one client and one Provider per
// configuration (location and endpoint), so that every credential of a
// rotate.Set served alike shares them. Close closes the clients it made.
// It is safe for concurrent use.
type Opener struct {
	client     *secretmanager.Client
	clientOpts []option.ClientOption
	opts       []Option
	notifier   *Notifier
	newClient  func(ctx context.Context, opts ...option.ClientOption) (*secretmanager.Client, error)

	mu        sync.Mutex
	providers map[string]credential.Provider
	clients   []*secretmanager.Client
}

// OpenerOption configures an [Opener].
type OpenerOption func(*Opener)

// WithClient makes every URL use c (the caller's client, closed by the
// caller), whatever its location or endpoint setting.
func WithClient(c *secretmanager.Client) OpenerOption { return func(o *Opener) { o.client = c } }

// WithClientOptions adds options to every client the Opener creates, after
// its own (so an option.WithCredentialsFile or option.WithEndpoint given
// here wins over Application Default Credentials and the regional
// endpoint).
func WithClientOptions(opts ...option.ClientOption) OpenerOption {
	return func(o *Opener) { o.clientOpts = append(o.clientOpts, opts...) }
}

// WithProviderOptions passes options to every Provider the Opener makes.
func WithProviderOptions(opts ...Option) OpenerOption {
	return func(o *Opener) { o.opts = append(o.opts, opts...) }
}

// WithPush makes the Opener return [PushProvider]s that are notified of
// changes through n. The caller closes n.
func WithPush(n *Notifier) OpenerOption { return func(o *Opener) { o.notifier = n } }

// NewOpener returns an Opener.
func NewOpener(opts ...OpenerOption) *Opener {
	o := &Opener{providers: map[string]credential.Provider{}, newClient: secretmanager.NewClient}
	for _, f := range opts {
		f(o)
	}
	return o
}

// regionalEndpoint is the endpoint of a location's regional secrets.
func regionalEndpoint(location string) string {
	return "secretmanager." + location + ".rep.googleapis.com:443"
}

// OpenURL implements provider.Opener.
func (o *Opener) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	set, err := provider.Settings(u, "endpoint")
	if err != nil {
		return nil, "", err
	}
	name := strings.TrimPrefix(u.Host+u.Path, "/")
	ref := name
	if u.Fragment != "" {
		ref += "#" + u.Fragment
	}
	r, err := parseRef("open", ref)
	if err != nil {
		if ce, ok := err.(*credential.Error); ok {
			// parseRef names only the well-formed part of the ref (a
			// malformed one may be a value pasted by mistake).
			shown := provider.WithoutValues(u)
			host, path, _ := strings.Cut(ce.Ref, "/")
			shown.Host, shown.Path, shown.RawPath, shown.Fragment, shown.RawFragment = host, "", "", "", ""
			if path != "" {
				shown.Path = "/" + path
			}
			return nil, "", provider.OpenError(shown, ce.Kind, ce.Reason)
		}
		return nil, "", err
	}
	endpoint := set["endpoint"]
	if endpoint == "" && r.location != "" {
		endpoint = regionalEndpoint(r.location)
	}
	key := endpoint
	if o.client != nil {
		key = ""
	}
	o.mu.Lock()
	p, ok := o.providers[key]
	o.mu.Unlock()
	if ok {
		return p, ref, nil
	}
	c := o.client
	if c == nil {
		// Finding ADC may read files or probe the metadata server: not
		// under the lock.
		var opts []option.ClientOption
		if endpoint != "" {
			opts = append(opts, option.WithEndpoint(endpoint))
		}
		opts = append(opts, o.clientOpts...)
		c, err = o.newClient(ctx, opts...)
		if err != nil {
			return nil, "", provider.OpenError(u, credential.ErrUnavailable,
				"cannot create a Secret Manager client (Application Default Credentials?)")
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := o.providers[key]; ok {
		// Another caller made this configuration's provider meanwhile.
		if c != o.client {
			c.Close()
		}
		return p, ref, nil
	}
	if c != o.client {
		o.clients = append(o.clients, c)
	}
	p = New(c, o.opts...)
	if o.notifier != nil {
		p = NewPushProvider(p.(*Provider), o.notifier)
	}
	o.providers[key] = p
	return p, ref, nil
}

// Close closes the clients the Opener created. The providers it returned
// fail with ErrUnavailable afterwards.
func (o *Opener) Close() error {
	o.mu.Lock()
	cs := o.clients
	o.clients = nil
	o.providers = map[string]credential.Provider{}
	o.mu.Unlock()
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
