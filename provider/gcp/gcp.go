package gcp

import (
	"context"
	"errors"
	"hash/crc32"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
)

// Provider reads secrets from Google Secret Manager with the SDK client it
// is given. It is safe for concurrent use.
type Provider struct {
	c          *secretmanager.Client
	names      MetadataNames
	logger     *slog.Logger
	clock      credential.Clock
	revoke     bool
	describe   bool
	onCond     func(Condition)
	callOpts   []gax.CallOption
	fallbackTT time.Duration

	mu        sync.Mutex
	conds     map[string]Condition // by ref, while the condition lasts
	fallbacks map[string]fallback  // by secret name
	descs     map[string]credential.Description
}

var (
	_ credential.Provider  = (*Provider)(nil)
	_ credential.Describer = (*Provider)(nil)
)

// fallback remembers the enabled version served while latest is disabled
// or destroyed, so that a poll costs two accesses and no metadata read.
type fallback struct {
	version string // the served version number
	until   time.Time
}

// MetadataNames are the annotation or label keys that fill
// credential.Metadata. Annotations are looked up first: labels are limited
// to 63 lowercase characters (an e-mail address cannot be a label value),
// annotations hold free text.
type MetadataNames struct {
	Owner, Purpose, Environment, System string
}

// DefaultMetadataNames are "owner", "purpose", "environment" and "system".
var DefaultMetadataNames = MetadataNames{Owner: "owner", Purpose: "purpose", Environment: "environment", System: "system"}

// Option configures a [Provider].
type Option func(*Provider)

// WithMetadataNames sets which annotations or labels fill the metadata
// (default [DefaultMetadataNames]).
func WithMetadataNames(n MetadataNames) Option { return func(p *Provider) { p.names = n } }

// WithLogger logs the conditions the provider works around (a disabled
// latest version), never a value (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(p *Provider) {
		if l != nil {
			p.logger = l
		}
	}
}

// WithClock sets the clock of condition times and of the fallback cache
// (default credential.SystemClock).
func WithClock(c credential.Clock) Option {
	return func(p *Provider) { p.clock = credential.ClockOrSystem(c) }
}

// WithDisabledLatestRevokes makes a disabled or destroyed "latest" version
// mean revoked: Fetch fails with an error wrapping credential.ErrRevoked
// instead of serving the newest enabled version, and the condition hook
// ([WithConditionHook]) is told, so that disabling a version in the
// console acts as a kill switch across replicas: rotate makes Get fail
// with ErrRevoked until a check succeeds again. Default: the newest
// enabled version is served and the condition is reported.
func WithDisabledLatestRevokes() Option { return func(p *Provider) { p.revoke = true } }

// WithConditionHook calls f when a condition starts or ends (see
// [Condition]). f runs on the fetching goroutine with no lock held: keep
// it short. rotate needs no hook for [WithDisabledLatestRevokes]: it
// revokes on a check's ErrRevoked by itself.
func WithConditionHook(f func(Condition)) Option { return func(p *Provider) { p.onCond = f } }

// WithoutDescribe turns Describe into a no-op that returns an empty
// description: no GetSecret call at open. Use it when many replicas start
// at once with many secrets, since GetSecret draws on the 600 a minute
// metadata quota; metadata then comes from the configuration alone.
func WithoutDescribe() Option { return func(p *Provider) { p.describe = false } }

// WithSDKRetry bounds the SDK's own retries of Unavailable and
// ResourceExhausted: at most attempts calls per Fetch (default 2: one
// retry), waiting a random time up to initial (default 2 s, the SDK's own)
// before the retry, doubling for further ones. credkit adds no retry loop
// of its own: a fetch that still fails returns ErrUnavailable and rotate's
// backoff (1 s doubling to 5 minutes, with jitter) decides when to try
// again. attempts <= 0 keeps the SDK's unbounded default (2 s doubling to
// 60 s until the call's 60 s timeout), which rotate's 30 s fetch timeout
// then cuts short.
func WithSDKRetry(attempts int, initial time.Duration) Option {
	return func(p *Provider) {
		if attempts <= 0 {
			p.callOpts = nil
			return
		}
		if initial <= 0 {
			initial = 2 * time.Second
		}
		p.callOpts = []gax.CallOption{retryOption(attempts, initial)}
	}
}

// retryOption returns the per-call retry setting: the SDK's codes and
// backoff shape, at most attempts calls.
func retryOption(attempts int, initial time.Duration) gax.CallOption {
	return gax.WithRetry(func() gax.Retryer {
		return &boundedRetryer{left: attempts - 1, bo: gax.Backoff{Initial: initial, Max: 60 * time.Second, Multiplier: 2}}
	})
}

// boundedRetryer retries Unavailable and ResourceExhausted at most left
// times.
type boundedRetryer struct {
	left int
	bo   gax.Backoff
}

func (r *boundedRetryer) Retry(err error) (time.Duration, bool) {
	if r.left <= 0 {
		return 0, false
	}
	switch code(err) {
	case codes.Unavailable, codes.ResourceExhausted:
		r.left--
		return r.bo.Pause(), true
	}
	return 0, false
}

// New returns a Provider using c, the SDK's own client, so that its
// authentication and transport stay the caller's. Defaults: metadata from
// [DefaultMetadataNames], a disabled latest version served around (see
// [WithDisabledLatestRevokes]), Describe on, the SDK retrying once
// ([WithSDKRetry]).
func New(c *secretmanager.Client, opts ...Option) *Provider {
	p := &Provider{
		c: c, names: DefaultMetadataNames, logger: slog.New(slog.DiscardHandler), clock: credential.SystemClock,
		describe: true, fallbackTT: 10 * time.Minute,
		conds: map[string]Condition{}, fallbacks: map[string]fallback{}, descs: map[string]credential.Description{},
	}
	p.callOpts = []gax.CallOption{retryOption(2, 2*time.Second)}
	for _, o := range opts {
		o(p)
	}
	return p
}

// ref is a parsed reference:
// projects/P[/locations/L]/secrets/S[/versions/V][#field].
type ref struct {
	secret   string // full secret name
	location string // "" for a global secret
	id       string // the secret id
	version  string // "latest", a number or an alias
	field    string
}

func (r ref) versionName() string { return r.secret + "/versions/" + r.version }

func invalid(op, refStr, reason string) error {
	return &credential.Error{Op: op, Ref: refStr, Kind: credential.ErrInvalid, Reason: reason}
}

// parseRef parses a ref. Errors name the part that is wrong, and the ref
// only as far as it is a well-formed secret name: a malformed ref may be a
// value pasted by mistake, and credential.SafeRef prints a plain ref whole.
func parseRef(op, s string) (ref, error) {
	var r ref
	base, fld, hasField := strings.Cut(s, "#")
	if hasField && fld == "" {
		return r, invalid(op, "", "empty #field")
	}
	r.field = fld
	if base == "" {
		return r, invalid(op, "", "no secret name (projects/P/secrets/S)")
	}
	p := strings.Split(base, "/")
	if len(p) < 4 || p[0] != "projects" || !validProject(p[1]) {
		return r, invalid(op, "", "not a secret name: want projects/P/secrets/S or projects/P/locations/L/secrets/S")
	}
	rest := p[2:]
	if rest[0] == "locations" {
		if len(rest) < 4 || !validLocation(rest[1]) {
			return r, invalid(op, "", "malformed location")
		}
		r.location = rest[1]
		rest = rest[2:]
	}
	if len(rest) < 2 || rest[0] != "secrets" || !validID(rest[1], 255) {
		return r, invalid(op, "", "malformed secret id (letters, digits, - and _, at most 255)")
	}
	r.id = rest[1]
	r.secret = strings.Join(p[:len(p)-len(rest)+2], "/")
	rest = rest[2:]
	switch {
	case len(rest) == 0:
		r.version = "latest"
	case len(rest) == 2 && rest[0] == "versions" && validVersion(rest[1]):
		r.version = rest[1]
	default:
		return r, invalid(op, r.secret, "malformed version (latest, a number or an alias)")
	}
	return r, nil
}

func validProject(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func validLocation(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validID(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validVersion(s string) bool {
	if s == "latest" {
		return true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n > 0
	}
	return validID(s, 63)
}

// code returns the gRPC code of an SDK error (gRPC or REST transport).
func code(err error) codes.Code {
	var ae *apierror.APIError
	if errors.As(err, &ae) {
		if st := ae.GRPCStatus(); st != nil {
			return st.Code()
		}
		switch ae.HTTPCode() {
		case http.StatusNotFound:
			return codes.NotFound
		case http.StatusForbidden:
			return codes.PermissionDenied
		case http.StatusUnauthorized:
			return codes.Unauthenticated
		case http.StatusTooManyRequests:
			return codes.ResourceExhausted
		case http.StatusBadRequest:
			return codes.InvalidArgument
		case http.StatusPreconditionFailed:
			return codes.FailedPrecondition
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusInternalServerError:
			return codes.Unavailable
		case http.StatusGatewayTimeout:
			return codes.DeadlineExceeded
		}
		return codes.Unknown
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}

// cause returns the SDK error as a plain gRPC status (code and message,
// without details): Secret Manager's messages name resources, never
// payloads.
func cause(err error) error {
	c := code(err)
	msg := ""
	var ae *apierror.APIError
	if errors.As(err, &ae) && ae.GRPCStatus() != nil {
		msg = ae.GRPCStatus().Message()
	} else if st, ok := status.FromError(err); ok {
		msg = st.Message()
	} else {
		return status.Error(c, "")
	}
	return status.Error(c, msg)
}

// mapErr turns an SDK error into a credential error: the kind from the
// gRPC code, the status as the cause. Context errors are returned as they
// are.
func mapErr(ctx context.Context, op, refStr string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	c := code(err)
	if d, ok := ctx.Deadline(); ok && c == codes.DeadlineExceeded && !time.Now().Before(d) {
		// The SDK's per-call context (same deadline, its own timer) can
		// end a moment before the caller's reports it.
		return context.DeadlineExceeded
	}
	kind, reason := credential.ErrUnavailable, "Secret Manager "+c.String()
	switch c {
	case codes.NotFound:
		kind = credential.ErrNotFound
	case codes.PermissionDenied, codes.Unauthenticated:
		kind = credential.ErrPermission
	case codes.InvalidArgument, codes.OutOfRange:
		kind = credential.ErrInvalid
	case codes.FailedPrecondition:
		kind, reason = credential.ErrRevoked, "the version is disabled or destroyed"
	case codes.Unknown:
		reason = "Secret Manager could not be reached"
	}
	return &credential.Error{Op: op, Ref: refStr, Kind: kind, Reason: reason, Err: cause(err)}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// value checks a payload and selects its field.
func value(refStr string, r ref, data []byte) (string, error) {
	if !utf8.Valid(data) {
		return "", invalid("fetch", refStr, "payload is not UTF-8 text")
	}
	v := string(data)
	if r.field != "" {
		if err := field.Check(v, 0); err != nil {
			return "", field.Annotate(err, "fetch", refStr)
		}
		f, err := field.JSON(data, r.field)
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

// access reads one version and verifies its checksum.
func (p *Provider) access(ctx context.Context, name string) (*smpb.AccessSecretVersionResponse, error) {
	resp, err := p.c.AccessSecretVersion(ctx, &smpb.AccessSecretVersionRequest{Name: name}, p.callOpts...)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Fetch reads the secret with AccessSecretVersion: the "latest" version,
// or the number or alias the ref selects. Version.ID is the concrete
// version number the service answered with (for "latest" or an alias, the
// version they name now), so that rotate compares IDs and does not
// reinstall an unchanged value. The payload's CRC32C is verified: a
// mismatch is ErrUnavailable and the value is never returned.
//
// When "latest" is disabled or destroyed, Fetch serves the newest enabled
// version and reports a [Condition], or fails with ErrRevoked under
// [WithDisabledLatestRevokes].
func (p *Provider) Fetch(ctx context.Context, refStr string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	r, err := parseRef("fetch", refStr)
	if err != nil {
		return credential.Version{}, err
	}
	resp, err := p.access(ctx, r.versionName())
	if err == nil {
		if r.version == "latest" {
			p.clear(refStr, r)
		}
		return p.version(refStr, r, resp)
	}
	if r.version != "latest" || code(err) != codes.FailedPrecondition || ctx.Err() != nil {
		return credential.Version{}, mapErr(ctx, "fetch", refStr, err)
	}
	return p.disabledLatest(ctx, refStr, r, err)
}

// version builds the credential.Version of an access response.
func (p *Provider) version(refStr string, r ref, resp *smpb.AccessSecretVersionResponse) (credential.Version, error) {
	data := resp.GetPayload().GetData()
	if c := resp.GetPayload().DataCrc32C; c != nil && int64(crc32.Checksum(data, castagnoli)) != *c {
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: refStr, Kind: credential.ErrUnavailable, Reason: "payload checksum (CRC32C) mismatch: the value was corrupted on its way"}
	}
	v, err := value(refStr, r, data)
	if err != nil {
		return credential.Version{}, err
	}
	return credential.Version{Secret: credential.NewSecret(v), ID: versionID(resp.GetName())}, nil
}

// versionID returns the version number at the end of a version name.
func versionID(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// disabledLatest handles a "latest" version that is disabled or destroyed.
func (p *Provider) disabledLatest(ctx context.Context, refStr string, r ref, accessErr error) (credential.Version, error) {
	now := p.clock.Now()
	if p.revoke {
		if _, known := p.condition(refStr); !known {
			latest, state := p.latestState(ctx, r)
			p.report(Condition{Ref: refStr, Secret: r.secret, Latest: latest, LatestState: state, Since: now, Revoked: true})
		}
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: refStr, Kind: credential.ErrRevoked,
			Reason: "the latest version is disabled or destroyed, which revokes the credential", Err: cause(accessErr)}
	}
	p.mu.Lock()
	fb, ok := p.fallbacks[r.secret]
	p.mu.Unlock()
	if ok && now.Before(fb.until) {
		resp, err := p.access(ctx, r.secret+"/versions/"+fb.version)
		if err == nil {
			return p.version(refStr, r, resp)
		}
		if code(err) != codes.FailedPrecondition && code(err) != codes.NotFound {
			return credential.Version{}, mapErr(ctx, "fetch", refStr, err)
		}
	}
	// Find the latest version's state and the newest enabled one: one
	// ListSecretVersions page, newest first (a metadata read, so it is
	// remembered for 10 minutes).
	it := p.c.ListSecretVersions(ctx, &smpb.ListSecretVersionsRequest{Parent: r.secret, PageSize: 25}, p.callOpts...)
	var latest *smpb.SecretVersion
	var enabled *smpb.SecretVersion
	for enabled == nil {
		v, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return credential.Version{}, mapErr(ctx, "fetch", refStr, err)
		}
		if latest == nil {
			latest = v
		}
		if v.GetState() == smpb.SecretVersion_ENABLED {
			enabled = v
		}
	}
	if latest == nil || enabled == nil {
		p.report(Condition{Ref: refStr, Secret: r.secret, Latest: versionID(latest.GetName()), LatestState: latest.GetState().String(), Since: now})
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: refStr, Kind: credential.ErrNotFound, Reason: "no version of the secret is enabled", Err: cause(accessErr)}
	}
	if latest.GetState() == smpb.SecretVersion_ENABLED {
		// Enabled meanwhile: read it as latest.
		resp, err := p.access(ctx, latest.GetName())
		if err != nil {
			return credential.Version{}, mapErr(ctx, "fetch", refStr, err)
		}
		p.clear(refStr, r)
		return p.version(refStr, r, resp)
	}
	served := versionID(enabled.GetName())
	resp, err := p.access(ctx, enabled.GetName())
	if err != nil {
		return credential.Version{}, mapErr(ctx, "fetch", refStr, err)
	}
	v, err := p.version(refStr, r, resp)
	if err != nil {
		return credential.Version{}, err
	}
	p.mu.Lock()
	p.fallbacks[r.secret] = fallback{version: served, until: now.Add(p.fallbackTT)}
	p.mu.Unlock()
	p.report(Condition{Ref: refStr, Secret: r.secret, Latest: versionID(latest.GetName()), LatestState: latest.GetState().String(), Served: served, Since: now})
	return v, nil
}

// latestState returns the latest version's number and state, or empty
// strings when they cannot be read (revoke mode does not depend on it).
func (p *Provider) latestState(ctx context.Context, r ref) (string, string) {
	it := p.c.ListSecretVersions(ctx, &smpb.ListSecretVersionsRequest{Parent: r.secret, PageSize: 1}, p.callOpts...)
	v, err := it.Next()
	if err != nil {
		return "", ""
	}
	return versionID(v.GetName()), v.GetState().String()
}
