package azure

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
)

// Provider fetches secrets from one Azure Key Vault with the SDK client it
// is given. It is safe for concurrent use.
type Provider struct {
	c              *azsecrets.Client
	tags           TagNames
	logger         *slog.Logger
	clock          credential.Clock
	keepDisabled   bool
	concurrency    int
	budget         int
	describeMaxAge time.Duration
	vault          atomic.Pointer[string] // the vault's name, set by the Opener or learned from secret IDs
	gate           gate
	lim            *limiter
	sem            chan struct{}
	mu             sync.Mutex
	memo           map[string]seen // lower-case name -> the latest version last fetched
	last           *listing        // the last properties listing
	listing        sync.Mutex      // one Describe listing at a time
	notify         registry
	handlers       handlerSet  // event handlers pushing to this provider
	parent         *handlerSet // the Opener's, when an Opener made it
	listDenied     atomic.Bool
	logDenied      sync.Once
}

var (
	_ credential.Provider            = (*Provider)(nil)
	_ credential.BatchVersionChecker = (*Provider)(nil)
	_ credential.BatchFetcher        = (*Provider)(nil)
	_ credential.Describer           = (*Provider)(nil)
	_ credential.Notifier            = (*Provider)(nil)
	_ credential.PushHealth          = (*Provider)(nil)
)

// seen is what a fetch of a secret's latest version left: its version ID
// and the attributes the properties listing reports for it. Key Vault's
// times have whole seconds, so a version created in the second the fetch
// was answered could hide behind the same attributes: sure is set when Key
// Vault's clock (the answer's Date) was past the version's updated second.
type seen struct {
	id    string
	attrs string
	sure  bool
}

// listing is one pass over the vault's secret properties, by lower-case
// name.
type listing struct {
	at    time.Time
	props map[string]*azsecrets.SecretProperties
}

// TagNames are the secret tags mapped to credential.Metadata.
type TagNames struct {
	Owner, Purpose, Environment, System string
}

// DefaultTagNames are "owner", "purpose", "environment" and "system".
var DefaultTagNames = TagNames{Owner: "owner", Purpose: "purpose", Environment: "environment", System: "system"}

// ContentTypeTag is the key under which [Provider.Describe] puts a
// secret's content type in Metadata.Tags.
const ContentTypeTag = "content_type"

// Option configures a Provider.
type Option interface{ applyProvider(*Provider) }

type providerOption func(*Provider)

func (f providerOption) applyProvider(p *Provider) { f(p) }

// WithTagNames sets which tags fill the metadata (default DefaultTagNames).
func WithTagNames(t TagNames) Option { return providerOption(func(p *Provider) { p.tags = t }) }

// WithLogger sets where throttling and push problems are logged (default:
// nowhere). Records never hold a value.
func WithLogger(l *slog.Logger) Option {
	return providerOption(func(p *Provider) {
		if l != nil {
			p.logger = l
		}
	})
}

// WithClock sets the clock that judges nbf and exp and times Retry-After
// and the request budget (default credential.SystemClock).
func WithClock(c credential.Clock) Option {
	return providerOption(func(p *Provider) { p.clock = credential.ClockOrSystem(c) })
}

// WithKeepLastGoodWhenDisabled makes a disabled secret an
// [credential.ErrUnavailable] failure instead of [credential.ErrRevoked]: a
// watching credential then keeps serving its last good value, as through an
// outage, and reports itself stale. By default a disabled secret is
// ErrRevoked: disabling it in the portal is a kill switch.
func WithKeepLastGoodWhenDisabled() Option {
	return providerOption(func(p *Provider) { p.keepDisabled = true })
}

// WithRequestLimits bounds the requests the provider makes to its vault:
// at most concurrency at a time (default 8) and at most budget in any 10
// seconds (default 1,000, a quarter of Key Vault's 4,000 reads per vault
// per 10 s, so that four replicas fetching everything at once still fit).
// A request over the budget waits for the window to move.
func WithRequestLimits(concurrency, budget int) Option {
	return providerOption(func(p *Provider) {
		if concurrency > 0 {
			p.concurrency = concurrency
		}
		if budget > 0 {
			p.budget = budget
		}
	})
}

// New returns a Provider reading the vault c is a client of.
//
// Defaults: DefaultTagNames, the system clock, a disabled secret is
// ErrRevoked, 8 concurrent requests and 1,000 per 10 s. The SDK's retry
// policy (3 retries, honouring Retry-After up to a minute) is kept; after a
// 429 the provider itself makes no request to the vault until Retry-After
// has passed.
func New(c *azsecrets.Client, opts ...Option) *Provider {
	p := &Provider{
		c: c, tags: DefaultTagNames, logger: slog.New(slog.DiscardHandler), clock: credential.SystemClock,
		concurrency: 8, budget: 1000, describeMaxAge: time.Minute, memo: map[string]seen{},
	}
	for _, o := range opts {
		o.applyProvider(p)
	}
	p.sem = make(chan struct{}, p.concurrency)
	p.lim = newLimiter(p.budget, 10*time.Second)
	p.notify.subs = map[string]map[*sub]struct{}{}
	return p
}

// ref is a parsed reference: NAME[/VERSION][#field].
type ref struct {
	name, version, field string
}

func (r ref) key() string { return strings.ToLower(r.name) }

// validName reports whether s is a Key Vault object name: 1 to 127
// letters, digits and dashes.
func validName(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// validVersion reports whether s is a Key Vault version ID: 32 hex digits.
func validVersion(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func invalid(op, refStr, reason string) error {
	return &credential.Error{Op: op, Ref: refStr, Kind: credential.ErrInvalid, Reason: reason}
}

// parseRef parses NAME[/VERSION][#field]. Errors name the problem, and the
// ref only when it is well formed enough to be a name (a malformed ref may
// be a value pasted by mistake).
func parseRef(op, s string) (ref, error) {
	base, fld := field.Split(s)
	name, ver, _ := strings.Cut(base, "/")
	r := ref{name: name, version: ver, field: fld}
	switch {
	case name == "":
		return r, invalid(op, "", "no secret name")
	case !validName(name):
		return r, invalid(op, "", "a secret name is 1 to 127 letters, digits and dashes")
	case strings.Contains(ver, "/"):
		return r, invalid(op, name, "the ref has more parts than NAME/VERSION")
	case ver != "" && !validVersion(ver):
		return r, invalid(op, name, "a version is 32 hex digits")
	case strings.ContainsAny(fld, "\x00\r\n"):
		return r, invalid(op, name, "the field name holds a control character")
	}
	return r, nil
}

// Fetch reads a secret with GetSecret: its latest version, or the version
// the ref pins ("NAME/VERSION"). Version.ID is the Key Vault version,
// Created its creation time and Expires its exp attribute. A version whose
// exp has passed is never returned ([credential.ErrExpired]), nor one whose
// nbf is still ahead ([credential.ErrUnavailable]: not valid yet). A
// disabled secret is [credential.ErrRevoked] (see
// [WithKeepLastGoodWhenDisabled]).
func (p *Provider) Fetch(ctx context.Context, refStr string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	r, err := parseRef("fetch", refStr)
	if err != nil {
		return credential.Version{}, err
	}
	s, err := p.get(ctx, r.name, r.version)
	if err != nil {
		return credential.Version{}, p.mapErr("fetch", refStr, err)
	}
	return p.version(refStr, r, s)
}

// get calls GetSecret within the provider's limits, and remembers what the
// latest version looked like.
func (p *Provider) get(ctx context.Context, name, ver string) (azsecrets.Secret, error) {
	var res azsecrets.GetSecretResponse
	var raw *http.Response
	err := p.call(ctx, func(ctx context.Context) error {
		var err error
		res, err = p.c.GetSecret(policy.WithCaptureResponse(ctx, &raw), name, ver, nil)
		return err
	})
	if err != nil {
		return azsecrets.Secret{}, err
	}
	p.learnVault(res.ID)
	if ver == "" && res.ID != nil {
		m := seen{id: res.ID.Version(), attrs: attrKey(res.Attributes)}
		if raw != nil && res.Attributes != nil && res.Attributes.Updated != nil {
			date, err := http.ParseTime(raw.Header.Get("Date"))
			m.sure = err == nil && date.Unix() > res.Attributes.Updated.Unix()
		}
		p.mu.Lock()
		p.memo[strings.ToLower(name)] = m
		p.mu.Unlock()
	}
	return res.Secret, nil
}

// version turns a GetSecret answer into a credential.Version, enforcing
// enabled, nbf and exp, and selecting the field.
func (p *Provider) version(refStr string, r ref, s azsecrets.Secret) (credential.Version, error) {
	now := p.clock.Now()
	var a azsecrets.SecretAttributes
	if s.Attributes != nil {
		a = *s.Attributes
	}
	switch {
	case a.Enabled != nil && !*a.Enabled:
		return credential.Version{}, p.disabledErr("fetch", refStr, nil)
	case a.NotBefore != nil && now.Before(*a.NotBefore):
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: refStr, Kind: credential.ErrUnavailable,
			Reason: "the version is not valid before " + a.NotBefore.UTC().Format(time.RFC3339) + " (nbf)"}
	case a.Expires != nil && !now.Before(*a.Expires):
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: refStr, Kind: credential.ErrExpired,
			Reason: "the version expired at " + a.Expires.UTC().Format(time.RFC3339) + " (exp)"}
	case s.Value == nil:
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: refStr, Kind: credential.ErrInvalid, Reason: "Key Vault returned no value"}
	}
	v, err := value(refStr, r, *s.Value)
	if err != nil {
		return credential.Version{}, err
	}
	out := credential.Version{Secret: credential.NewSecret(v)}
	if s.ID != nil {
		out.ID = s.ID.Version()
	}
	if out.ID == "" {
		out.ID = r.version
	}
	if a.Created != nil {
		out.Created = *a.Created
	}
	if a.Expires != nil {
		out.Expires = *a.Expires
	}
	return out, nil
}

// value selects the field and checks what would become a Secret with
// field.Value, the one check every backend shares: not empty, valid UTF-8,
// no NUL, CR or LF inside (one trailing line ending is trimmed).
func value(refStr string, r ref, v string) (string, error) {
	if r.field != "" {
		if err := field.Check(v, 0); err != nil {
			return "", field.Annotate(err, "fetch", refStr)
		}
		f, err := field.JSON([]byte(v), r.field)
		if err != nil {
			return "", field.Annotate(err, "fetch", refStr)
		}
		v = f
	}
	v, err := field.Value(v, 0)
	if err != nil {
		return "", field.Annotate(err, "fetch", refStr)
	}
	return v, nil
}

// attrKey is what the listing and a fetch agree on about a latest version:
// when it was created and last updated, whether it is enabled and its
// validity bounds.
func attrKey(a *azsecrets.SecretAttributes) string {
	if a == nil {
		return ""
	}
	var b strings.Builder
	for _, t := range []*time.Time{a.Created, a.Updated, a.NotBefore, a.Expires} {
		if t != nil {
			b.WriteString(t.UTC().Format(time.RFC3339Nano))
		}
		b.WriteByte('|')
	}
	if a.Enabled != nil && !*a.Enabled {
		b.WriteString("disabled")
	}
	return b.String()
}

// learnVault records the vault's name from a secret ID
// ("https://NAME.vault.azure.net/secrets/..."), for push routing.
func (p *Provider) learnVault(id *azsecrets.ID) {
	if id == nil || p.vault.Load() != nil {
		return
	}
	u, err := url.Parse(string(*id))
	if err != nil || u.Hostname() == "" {
		return
	}
	name, _, _ := strings.Cut(u.Hostname(), ".")
	name = strings.ToLower(name)
	p.vault.CompareAndSwap(nil, &name)
}

// changedID is the version ID CurrentVersions reports for a secret whose
// listed attributes differ from those of the version last fetched: it is
// never a Key Vault version, so the caller fetches it.
const changedID = "changed"

// CurrentVersions checks many refs with one pass over the vault's secret
// properties (NewListSecretPropertiesPager: 25 secrets a page, whatever the
// number of refs). The listing has no version IDs, so a secret counts as
// unchanged when its latest version's created and updated times, enabled
// flag, nbf and exp are those of the version this provider fetched last,
// and the result maps its refs to that version's ID. (Key Vault's times
// have whole seconds: when that fetch was answered within the second of
// the version's last update, a newer version could share its attributes,
// and the ref is left out until a fetch settles it.) A secret whose
// attributes changed maps to an ID no version has, so the caller fetches
// it (with [Provider.FetchBatch]) — unless its new latest version's nbf is
// still ahead: then the version in use is reported unchanged, and the new
// one is fetched at the first check after its nbf. Refs that pin a version,
// and secrets the listing does not show, are left out: the caller checks
// them alone. When Key Vault denies the listing (403: the identity may
// read its secrets but not list the vault), the provider logs it once and
// returns an empty map from then on, so callers check secret by secret.
func (p *Provider) CurrentVersions(ctx context.Context, refs []string) (map[string]string, error) {
	out := map[string]string{}
	var latest []ref
	var strs []string
	for _, s := range refs {
		r, err := parseRef("check", s)
		if err != nil || r.version != "" {
			continue
		}
		latest = append(latest, r)
		strs = append(strs, s)
	}
	if len(latest) == 0 || p.listDenied.Load() {
		return out, nil
	}
	l, err := p.list(ctx)
	if err != nil {
		if p.denied(err) {
			return map[string]string{}, nil
		}
		return nil, p.mapErr("check", "ListSecretProperties", err)
	}
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range latest {
		props, ok := l.props[r.key()]
		if !ok {
			continue
		}
		m, fetched := p.memo[r.key()]
		same := fetched && m.attrs == attrKey(props.Attributes)
		switch {
		case same && !m.sure:
			// Fetched in the second the version was written: a newer
			// version may share its attributes. Left to a check alone.
		case same:
			out[strs[i]] = m.id
		case fetched && props.Attributes != nil && props.Attributes.NotBefore != nil && now.Before(*props.Attributes.NotBefore):
			out[strs[i]] = m.id
		default:
			out[strs[i]] = changedID
		}
	}
	return out, nil
}

// denied reports whether err is Key Vault refusing the listing (403 with
// no SecretDisabled), and if so records it and logs it once: the callers
// then check secret by secret.
func (p *Provider) denied(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || serviceError(re).InnerCode == "SecretDisabled" {
		return false
	}
	p.listDenied.Store(true)
	p.logDenied.Do(func() {
		p.logger.Warn("credkit: Key Vault denies listing secret properties (secrets/readMetadata at the vault); checking secret by secret")
	})
	return true
}

// list reads every page of the vault's secret properties.
func (p *Provider) list(ctx context.Context) (*listing, error) {
	l := &listing{props: map[string]*azsecrets.SecretProperties{}}
	pg := p.c.NewListSecretPropertiesPager(nil)
	for pg.More() {
		var page azsecrets.ListSecretPropertiesResponse
		err := p.call(ctx, func(ctx context.Context) error {
			var err error
			page, err = pg.NextPage(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, sp := range page.Value {
			if sp == nil || sp.ID == nil {
				continue
			}
			p.learnVault(sp.ID)
			l.props[strings.ToLower(sp.ID.Name())] = sp
		}
	}
	l.at = p.clock.Now()
	p.mu.Lock()
	p.last = l
	p.mu.Unlock()
	return l, nil
}

// FetchBatch fetches the latest version of many refs with GetSecret, at
// most the provider's concurrency at a time and within its request budget,
// one call per secret whatever the number of its refs. Refs that pin a
// version, and secrets the last listing shows disabled, expired or not
// valid yet, are left out (the caller fetches them alone, and reports
// why), as are secrets whose fetch failed.
func (p *Provider) FetchBatch(ctx context.Context, refs []string) (map[string]credential.Version, error) {
	out := map[string]credential.Version{}
	byName := map[string][]string{}
	parsed := map[string]ref{}
	var names []string
	now := p.clock.Now()
	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	for _, s := range refs {
		r, err := parseRef("fetch", s)
		if err != nil || r.version != "" {
			continue
		}
		if last != nil {
			if sp := last.props[r.key()]; sp != nil && sp.Attributes != nil {
				a := sp.Attributes
				if (a.Enabled != nil && !*a.Enabled) || (a.NotBefore != nil && now.Before(*a.NotBefore)) || (a.Expires != nil && !now.Before(*a.Expires)) {
					continue
				}
			}
		}
		parsed[s] = r
		if _, ok := byName[r.key()]; !ok {
			names = append(names, r.name)
		}
		byName[r.key()] = append(byName[r.key()], s)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	for i := 0; i < min(p.concurrency, len(names)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				s, err := p.get(ctx, name, "")
				if err != nil {
					continue
				}
				for _, rs := range byName[strings.ToLower(name)] {
					if v, err := p.version(rs, parsed[rs], s); err == nil {
						mu.Lock()
						out[rs] = v
						mu.Unlock()
					}
				}
			}
		}()
	}
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		work <- n
	}
	close(work)
	wg.Wait()
	return out, nil
}

// Describe returns a secret's tags as metadata (see TagNames; every tag
// lands in Metadata.Tags, the content type under [ContentTypeTag]), its exp
// as Metadata.Expires and its latest version's creation time as
// LastRotated. For a secret's latest version it reads the properties
// listing (one listing serves every Describe within a minute, so opening a
// Set of N secrets costs ⌈M/25⌉ calls, not N, and reads no value); for a
// pinned version, or where the listing is denied, the version's GetSecret.
func (p *Provider) Describe(ctx context.Context, refStr string) (credential.Description, error) {
	r, err := parseRef("describe", refStr)
	if err != nil {
		return credential.Description{}, err
	}
	var props *azsecrets.SecretProperties
	var l *listing
	if r.version == "" && !p.listDenied.Load() {
		var err error
		if l, err = p.recentListing(ctx); err != nil && !p.denied(err) {
			return credential.Description{}, p.mapErr("describe", refStr, err)
		}
	}
	if l == nil {
		s, err := p.get(ctx, r.name, r.version)
		if err != nil {
			return credential.Description{}, p.mapErr("describe", refStr, err)
		}
		props = &azsecrets.SecretProperties{Attributes: s.Attributes, Tags: s.Tags, ContentType: s.ContentType}
	} else {
		if props = l.props[r.key()]; props == nil {
			return credential.Description{}, &credential.Error{Op: "describe", Ref: refStr, Kind: credential.ErrNotFound, Reason: "the vault lists no such secret"}
		}
	}
	var d credential.Description
	tags := map[string]string{}
	for k, v := range props.Tags {
		if v != nil {
			tags[k] = *v
		}
	}
	if props.ContentType != nil && *props.ContentType != "" {
		tags[ContentTypeTag] = *props.ContentType
	}
	if len(tags) > 0 {
		d.Metadata.Tags = tags
	}
	d.Metadata.Owner = tags[p.tags.Owner]
	d.Metadata.Purpose = tags[p.tags.Purpose]
	d.Metadata.Environment = tags[p.tags.Environment]
	d.Metadata.System = tags[p.tags.System]
	if a := props.Attributes; a != nil {
		if a.Expires != nil {
			d.Metadata.Expires = *a.Expires
		}
		if a.Created != nil {
			d.LastRotated = *a.Created
		}
	}
	return d, nil
}

// recentListing returns the last listing when it is recent enough for
// Describe, or lists again (one listing at a time).
func (p *Provider) recentListing(ctx context.Context) (*listing, error) {
	p.listing.Lock()
	defer p.listing.Unlock()
	p.mu.Lock()
	l := p.last
	p.mu.Unlock()
	if l != nil && p.clock.Now().Sub(l.at) < p.describeMaxAge {
		return l, nil
	}
	return p.list(ctx)
}

// call runs f within the provider's limits: not while Key Vault's
// Retry-After runs, at most concurrency at once, within the 10 s budget.
func (p *Provider) call(ctx context.Context, f func(context.Context) error) error {
	if until, ok := p.gate.closed(p.clock.Now()); ok {
		return &throttled{until: until}
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	if err := p.lim.wait(ctx, p.clock); err != nil {
		return err
	}
	err := f(ctx)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == 429 {
		d := retryAfter(re.RawResponse, p.clock.Now())
		until := p.gate.close(p.clock.Now().Add(d))
		p.logger.Warn("credkit: Key Vault is throttling; no request until Retry-After has passed", "retry_at", until)
	}
	return err
}
