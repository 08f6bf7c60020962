package vault

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
	"github.com/credkit/credkit/provider"
)

// Provider reads secrets from HashiCorp Vault with the API client it is
// given: KV version 2 and 1, and dynamic secrets under leases, which it
// renews and replaces in the background; it keeps its own Vault token
// alive (see [Auth]). It is safe for concurrent use. Close stops its
// background work.
type Provider struct {
	c      *api.Client
	o      options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
	once   sync.Once
	goMu   sync.Mutex // orders spawn against Close

	auth   *tokenManager
	leases *leaseManager
	view   *Leases

	nsClients sync.Map // namespace -> *api.Client
	mounts    sync.Map // ns + "\x00" + path -> mountInfo
	denied    sync.Map // ns + "\x00" + mount -> true: metadata reads denied
	logOnce   sync.Map
	notBefore atomic.Int64 // unix nanos: a 429 asked to wait until then
}

var (
	_ credential.Provider       = (*Provider)(nil)
	_ credential.VersionChecker = (*Provider)(nil)
	_ credential.Describer      = (*Provider)(nil)
)

// MetadataNames are the keys of a KV v2 secret's custom_metadata mapped to
// credential.Metadata. Every custom_metadata entry also lands in
// Metadata.Tags. Scopes is a comma-separated list; RotationPeriod a Go
// duration ("720h").
type MetadataNames struct {
	Owner, Purpose, Environment, System, Scopes, RotationPeriod string
}

// DefaultMetadataNames are "owner", "purpose", "environment", "system",
// "scopes" and "rotation_period".
var DefaultMetadataNames = MetadataNames{Owner: "owner", Purpose: "purpose", Environment: "environment", System: "system", Scopes: "scopes", RotationPeriod: "rotation_period"}

// Option configures a Provider.
type Option func(*options)

type options struct {
	clock         credential.Clock
	logger        *slog.Logger
	names         MetadataNames
	auth          Auth
	revokeOnClose bool
	jitter        float64
}

// WithClock sets the clock of lease and token timers (default
// credential.SystemClock).
func WithClock(c credential.Clock) Option {
	return func(o *options) { o.clock = credential.ClockOrSystem(c) }
}

// WithLogger sets where the provider logs renewals, re-logins, lease
// replacements and the fallback from denied metadata reads (default:
// nowhere). Records hold paths, lease IDs, auth method names, times and
// error kinds; never a token, a login credential or a value.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithMetadataNames sets which custom_metadata keys fill the metadata
// (default DefaultMetadataNames).
func WithMetadataNames(n MetadataNames) Option { return func(o *options) { o.names = n } }

// WithAuth sets how the provider logs in (default: the client's token, as
// TokenAuth, renewed with renew-self when it is renewable).
func WithAuth(a Auth) Option { return func(o *options) { o.auth = a } }

// WithRevokeOnClose makes Close revoke the leases the provider holds, and
// its token when the provider logged in itself (default: keep them; they
// lapse at their TTL). See the package documentation for why.
func WithRevokeOnClose() Option { return func(o *options) { o.revokeOnClose = true } }

// WithRenewJitter sets how much earlier than two thirds of the remaining
// TTL a lease or token is renewed, as a fraction of that time drawn at
// random (default 0.1, as Vault's LifetimeWatcher). 0 renews at exactly two
// thirds.
func WithRenewJitter(f float64) Option {
	return func(o *options) {
		if f >= 0 && f < 0.5 {
			o.jitter = f
		}
	}
}

// New returns a Provider using c. The client's retries (VAULT_MAX_RETRIES,
// 2 by default, on 5xx and 429) are kept; credkit does not retry on top of
// them, except once after a 403 with a fresh login. Call Close when done.
func New(c *api.Client, opts ...Option) *Provider {
	o := options{clock: credential.SystemClock, logger: slog.New(slog.DiscardHandler), names: DefaultMetadataNames, jitter: 0.1}
	for _, f := range opts {
		f(&o)
	}
	if o.auth == nil {
		o.auth = &TokenAuth{Token: credential.NewSecret(c.Token())}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Provider{c: c, o: o, ctx: ctx, cancel: cancel}
	p.auth = &tokenManager{p: p, auth: o.auth, kick: make(chan struct{}, 1)}
	p.leases = &leaseManager{p: p, entries: map[string]*leaseEntry{}, subs: map[string]map[*listener]struct{}{}}
	p.view = &Leases{p: p}
	return p
}

// Close stops lease and token renewal and waits for it; with
// [WithRevokeOnClose] it then revokes the leases and the token it obtained
// by logging in. It is idempotent. Fetch fails with credential.ErrClosed
// after it.
func (p *Provider) Close() error {
	p.once.Do(func() {
		p.goMu.Lock()
		p.closed.Store(true)
		p.goMu.Unlock()
		p.cancel()
		p.wg.Wait()
		if p.o.revokeOnClose {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			p.leases.revokeAll(ctx)
			p.auth.revoke(ctx)
		}
	})
	return nil
}

// spawn runs f in a goroutine that Close waits for; it reports false,
// running nothing, once the provider is closed.
func (p *Provider) spawn(f func()) bool {
	p.goMu.Lock()
	defer p.goMu.Unlock()
	if p.closed.Load() {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// open returns ErrClosed once the provider is closed.
func (p *Provider) open(op string, r ref) error {
	if p.closed.Load() {
		return &credential.Error{Op: op, Ref: r.safe, Kind: credential.ErrClosed}
	}
	return nil
}

func (p *Provider) now() time.Time { return p.o.clock.Now() }

// twoThirds returns 2/3 of d, less up to the jitter fraction of it.
func (p *Provider) twoThirds(d time.Duration) time.Duration {
	t := d * 2 / 3
	if p.o.jitter > 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		f := float64(uint64(b[0])|uint64(b[1])<<8|uint64(b[2])<<16) / float64(1<<24)
		t -= time.Duration(f * p.o.jitter * float64(t))
	}
	return t
}

func (p *Provider) logOnceKey(key string, f func()) {
	if _, loaded := p.logOnce.LoadOrStore(key, true); !loaded {
		f()
	}
}

// ref is a parsed reference: MOUNT/PATH[#field][?version=N&kv=1|2&namespace=NS].
type ref struct {
	safe    string // for errors: credential.SafeRef of the ref
	path    string
	field   string
	version int
	kv      int
	ns      string
	token   bool // auth/token/self: the provider's own token
}

// TokenRef is the ref of the provider's own Vault token: a short-lived
// credential like any other, so a rotate.Set can watch it and its expiry
// shows in health and the inventory.
const TokenRef = "auth/token/self"

func invalid(op, safe, reason string) error {
	return &credential.Error{Op: op, Ref: safe, Kind: credential.ErrInvalid, Reason: reason}
}

// parseRef parses a ref. A Vault path holds neither '?' nor '#', which
// therefore delimit the settings and the field, in either order. A ref
// that is no MOUNT/PATH is not printed in the error: it may be a value
// pasted by mistake, and credential.SafeRef prints a plain ref whole.
func parseRef(s string) (ref, error) {
	r := ref{safe: credential.SafeRef(s)}
	if strings.ContainsAny(s, "\x00\r\n") {
		return r, invalid("fetch", "", "the ref holds a NUL, CR or LF byte")
	}
	rest := s
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		fld := rest[i+1:]
		rest = rest[:i]
		if q := strings.IndexByte(fld, '?'); q >= 0 {
			rest += fld[q:]
			fld = fld[:q]
		}
		if fld == "" {
			return r, invalid("fetch", "", "empty #field")
		}
		r.field = fld
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		if err := r.settings(rest[:i], rest[i+1:]); err != nil {
			return r, err
		}
		rest = rest[:i]
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return r, invalid("fetch", "", "no Vault path")
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return r, invalid("fetch", "", "the path has an empty, . or .. segment")
		}
	}
	if rest == TokenRef {
		r.token = true
	} else if !strings.Contains(rest, "/") {
		return r, invalid("fetch", "", "the path needs a mount and a secret: MOUNT/PATH")
	} else if strings.HasPrefix(rest, "sys/") || strings.HasPrefix(rest, "auth/") {
		return r, invalid("fetch", r.safe, "sys/ and auth/ paths are not secrets")
	}
	r.path = rest
	return r, nil
}

// refSettings are the settings of a ref (and of a vault:// URL).
var refSettings = []string{"version", "kv", "namespace"}

// settings parses the query of a ref. An unknown or repeated setting is
// ErrInvalid naming the setting, never its value: the one rule of every
// opener, provider.Settings. path is the ref before its query, for errors.
func (r *ref) settings(path, q string) error {
	// A refused ref is printed with every value blanked, as
	// provider.Settings prints a URL, even a harmless setting's (a token
	// may be pasted there, or be the value that is refused).
	safe := credential.SafeRef(path + "?" + provider.WithoutValues(&url.URL{RawQuery: q}).RawQuery)
	set, err := provider.Settings(&url.URL{Scheme: "vault", RawQuery: q}, refSettings...)
	if err != nil {
		if ce, ok := err.(*credential.Error); ok {
			cp := *ce
			cp.Op, cp.Ref = "fetch", safe
			return &cp
		}
		return err
	}
	if v, ok := set["version"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return invalid("fetch", safe, "setting \"version\" is not a positive integer")
		}
		r.version = n
	}
	if v, ok := set["kv"]; ok {
		if v != "1" && v != "2" {
			return invalid("fetch", safe, "setting \"kv\" is not 1 or 2")
		}
		r.kv = int(v[0] - '0')
	}
	if v, ok := set["namespace"]; ok {
		if v == "" || strings.ContainsAny(v, "\x00\r\n") {
			return invalid("fetch", safe, "setting \"namespace\" is empty or malformed")
		}
		r.ns = strings.Trim(v, "/")
	}
	return nil
}

// kinds of target.
const (
	kindKV1 = iota + 1
	kindKV2
	kindDynamic
)

type mountInfo struct {
	kind  int
	mount string // without slashes
}

// target resolves a ref's engine: the kv setting, else the mount preflight
// Vault's CLI uses (sys/internal/ui/mounts, cached), else — when the
// preflight is denied — KV v2 for MOUNT/data/PATH and a plain read (KV v1
// or a dynamic secret, told apart by its lease) otherwise.
func (p *Provider) target(ctx context.Context, r ref) (mountInfo, string, error) {
	first, _, _ := strings.Cut(r.path, "/")
	var mi mountInfo
	switch r.kv {
	case 1:
		mi = mountInfo{kind: kindKV1, mount: first}
	case 2:
		mi = mountInfo{kind: kindKV2, mount: first}
	default:
		key := r.ns + "\x00" + r.path
		if v, ok := p.mounts.Load(key); ok {
			mi = v.(mountInfo)
			break
		}
		sec, _, err := p.request(ctx, "fetch", r.safe, http.MethodGet, "sys/internal/ui/mounts/"+r.path, r.ns, nil, nil)
		switch {
		case err == nil && sec != nil:
			typ, _ := sec.Data["type"].(string)
			mp, _ := sec.Data["path"].(string)
			mp = strings.Trim(mp, "/")
			if mp == "" || !strings.HasPrefix(r.path, mp+"/") {
				mp = first
			}
			mi = mountInfo{kind: kindDynamic, mount: mp}
			if typ == "kv" || typ == "generic" {
				mi.kind = kindKV1
				if opts, ok := sec.Data["options"].(map[string]any); ok && opts["version"] == "2" {
					mi.kind = kindKV2
				}
			}
			p.mounts.Store(key, mi)
		case errors.Is(err, credential.ErrPermission) || errors.Is(err, credential.ErrNotFound):
			mi = mountInfo{kind: kindDynamic, mount: first}
			if strings.HasPrefix(r.path, first+"/data/") {
				mi.kind = kindKV2
			}
			p.mounts.Store(key, mi)
		default:
			return mi, "", err
		}
	}
	sub := strings.TrimPrefix(r.path, mi.mount+"/")
	if mi.kind == kindKV2 {
		sub = strings.TrimPrefix(sub, "data/")
	}
	return mi, sub, nil
}

func (p *Provider) client(ns string) *api.Client {
	if ns == "" {
		return p.c
	}
	if c, ok := p.nsClients.Load(ns); ok {
		return c.(*api.Client)
	}
	c, _ := p.nsClients.LoadOrStore(ns, p.c.WithNamespace(ns))
	return c.(*api.Client)
}

// request sends one request with the provider's token. On a 403 it logs in
// again once (see tokenManager.after403) and retries. It returns the parsed
// answer (also of a 404, whose body may describe a deleted KV version), the
// status, and the mapped error.
func (p *Provider) request(ctx context.Context, op, safe, method, path, ns string, q url.Values, body any) (*api.Secret, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if p.closed.Load() {
		return nil, 0, &credential.Error{Op: op, Ref: safe, Kind: credential.ErrClosed}
	}
	if nb := p.notBefore.Load(); nb != 0 && p.now().UnixNano() < nb {
		return nil, http.StatusTooManyRequests, &credential.Error{Op: op, Ref: safe, Kind: credential.ErrUnavailable, Reason: "Vault's rate limit quota was hit; waiting for its Retry-After"}
	}
	tok, err := p.auth.token(ctx)
	if err != nil {
		return nil, 0, err
	}
	sec, status, err := p.send(ctx, op, safe, method, path, ns, q, body, tok.token)
	if status == http.StatusForbidden {
		if nt, ok := p.auth.after403(ctx, tok); ok {
			sec, status, err = p.send(ctx, op, safe, method, path, ns, q, body, nt.token)
		}
	}
	return sec, status, err
}

// send is one HTTP exchange through the API client.
func (p *Provider) send(ctx context.Context, op, safe, method, path, ns string, q url.Values, body any, token string) (*api.Secret, int, error) {
	c := p.client(ns)
	r := c.NewRequest(method, "/v1/"+path)
	r.ClientToken = token
	for k, v := range q {
		r.Params[k] = v
	}
	if body != nil {
		if err := r.SetJSONBody(body); err != nil {
			return nil, 0, invalid(op, safe, "cannot encode the request")
		}
	}
	resp, err := c.RawRequestWithContext(ctx, r) //nolint:staticcheck // the raw form keeps the status and the 404 body
	status := 0
	if resp != nil {
		defer resp.Body.Close()
		status = resp.StatusCode
	}
	if ctx.Err() != nil {
		return nil, status, ctx.Err()
	}
	if status == http.StatusTooManyRequests {
		p.notBefore.Store(p.now().Add(retryAfter(resp.Header)).UnixNano())
	}
	if err != nil && status != http.StatusNotFound {
		return nil, status, mapErr(op, safe, status, err)
	}
	var sec *api.Secret
	if resp != nil && resp.Body != nil && status != http.StatusNoContent {
		sec, _ = api.ParseSecret(io.LimitReader(resp.Body, 4<<20))
	}
	if status == http.StatusNotFound {
		return sec, status, &credential.Error{Op: op, Ref: safe, Kind: credential.ErrNotFound, Reason: "no secret at this path", Err: &ServerError{Status: status}}
	}
	return sec, status, nil
}

// Fetch reads the secret at ref: a KV version 2 secret (the latest
// version, or the one ?version= pins; Version.ID is the KV version), a KV
// version 1 secret (Version.ID keyed on the content), a dynamic secret
// (one shared lease per path; Version.Expires is the lease's end), or
// [TokenRef], the provider's own token.
func (p *Provider) Fetch(ctx context.Context, refStr string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	r, err := parseRef(refStr)
	if err != nil {
		return credential.Version{}, err
	}
	if err := p.open("fetch", r); err != nil {
		return credential.Version{}, err
	}
	if r.token {
		return p.auth.version(ctx, r)
	}
	mi, sub, err := p.target(ctx, r)
	if err != nil {
		return credential.Version{}, err
	}
	switch mi.kind {
	case kindKV2:
		v, _, err := p.readKV2(ctx, r, mi.mount, sub)
		return v, err
	case kindKV1:
		return p.readKV1(ctx, r, mi.mount, sub)
	default:
		return p.leases.fetch(ctx, r)
	}
}

// CurrentVersion is the cheap change check. For KV v2 it reads the
// secret's metadata (current_version), never the value; when the policy
// denies the metadata path it says so once in the log and reads the data
// instead from then on. For a dynamic secret or the token it answers from
// memory; for KV v1 it reads the secret (there is no cheaper call).
func (p *Provider) CurrentVersion(ctx context.Context, refStr string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	r, err := parseRef(refStr)
	if err != nil {
		return "", err
	}
	if err := p.open("check", r); err != nil {
		return "", err
	}
	if r.token {
		v, err := p.auth.version(ctx, r)
		return v.ID, err
	}
	mi, sub, err := p.target(ctx, r)
	if err != nil {
		return "", err
	}
	switch mi.kind {
	case kindKV2:
		return p.checkKV2(ctx, r, mi.mount, sub)
	case kindKV1:
		v, err := p.readKV1(ctx, r, mi.mount, sub)
		return v.ID, err
	default:
		v, err := p.leases.fetch(ctx, r)
		return v.ID, err
	}
}

// Describe returns a KV v2 secret's custom_metadata as metadata (see
// MetadataNames) and its last update as LastRotated; a dynamic secret's
// lease facts (see the package documentation); the token's facts for
// [TokenRef]. A KV v1 secret has none.
func (p *Provider) Describe(ctx context.Context, refStr string) (credential.Description, error) {
	r, err := parseRef(refStr)
	if err != nil {
		return credential.Description{}, err
	}
	if err := p.open("describe", r); err != nil {
		return credential.Description{}, err
	}
	if r.token {
		return p.auth.describe(), nil
	}
	mi, sub, err := p.target(ctx, r)
	if err != nil {
		return credential.Description{}, err
	}
	switch mi.kind {
	case kindKV2:
		return p.describeKV2(ctx, r, mi.mount, sub)
	case kindKV1:
		return credential.Description{}, nil
	default:
		return p.leases.describe(ctx, r)
	}
}

// selectValue returns the value a ref selects in a secret's data: the
// #field, or the only field when there is one. A field missing from data
// whose only entry is a JSON document in a string is looked up in that
// document. Values holding NUL, CR or LF are refused (checkValue).
func selectValue(op, safe string, data map[string]any, fld string) (string, error) {
	var raw any
	if fld == "" {
		if len(data) != 1 {
			return "", invalid(op, safe, "the secret has "+strconv.Itoa(len(data))+" fields; name one with #field")
		}
		for _, v := range data {
			raw = v
		}
	} else if v, ok := data[fld]; ok {
		raw = v
	} else if len(data) == 1 {
		var only any
		for _, v := range data {
			only = v
		}
		s, isStr := only.(string)
		if !isStr {
			return "", &credential.Error{Op: op, Ref: safe, Kind: credential.ErrNotFound, Reason: "field " + strconv.Quote(fld) + " is missing"}
		}
		if err := field.Check(s, 0); err != nil {
			return "", field.Annotate(err, op, safe)
		}
		v, err := field.JSON([]byte(s), fld)
		if err != nil {
			return "", field.Annotate(err, op, safe)
		}
		return checkValue(op, safe, v)
	} else {
		return "", &credential.Error{Op: op, Ref: safe, Kind: credential.ErrNotFound, Reason: "field " + strconv.Quote(fld) + " is missing"}
	}
	var v string
	switch x := raw.(type) {
	case string:
		v = x
	case json.Number:
		v = x.String()
	case float64:
		v = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		v = strconv.FormatBool(x)
	default:
		name := fld
		if name == "" {
			name = "(only)"
		}
		return "", invalid(op, safe, "field "+strconv.Quote(name)+" is not a string, number or boolean")
	}
	return checkValue(op, safe, v)
}

// checkValue is field.Value, the one check of a final value every backend
// shares: one trailing newline trimmed; empty, not UTF-8, NUL, CR or LF
// ErrInvalid.
func checkValue(op, safe, v string) (string, error) {
	v, err := field.Value(v, 0)
	if err != nil {
		return "", field.Annotate(err, op, safe)
	}
	return v, nil
}

func parseTime(v any) time.Time {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func intOf(v any) int {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return int(n)
	case float64:
		return int(x)
	case int:
		return x
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
