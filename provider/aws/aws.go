package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
	"github.com/credkit/credkit/provider"
)

// Provider fetches secrets from AWS Secrets Manager with the SDK client it
// is given. It is safe for concurrent use.
type Provider struct {
	c      *secretsmanager.Client
	tags   TagNames
	logger *slog.Logger

	listDenied  atomic.Bool
	batchDenied atomic.Bool
	logOnce     sync.Map // "ListSecrets", "BatchGetSecretValue" -> logged
}

var (
	_ credential.Provider            = (*Provider)(nil)
	_ credential.VersionChecker      = (*Provider)(nil)
	_ credential.BatchVersionChecker = (*Provider)(nil)
	_ credential.BatchFetcher        = (*Provider)(nil)
	_ credential.Describer           = (*Provider)(nil)
)

// TagNames are the secret tags mapped to credential.Metadata.
type TagNames struct {
	Owner, Purpose, Environment, System string
}

// DefaultTagNames are "owner", "purpose", "environment" and "system".
var DefaultTagNames = TagNames{Owner: "owner", Purpose: "purpose", Environment: "environment", System: "system"}

// Option configures a Provider.
type Option func(*Provider)

// WithTagNames sets which tags fill the metadata (default DefaultTagNames).
func WithTagNames(t TagNames) Option { return func(p *Provider) { p.tags = t } }

// WithLogger logs the switch to per-secret calls when the caller's IAM
// policy lacks ListSecrets or BatchGetSecretValue (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(p *Provider) {
		if l != nil {
			p.logger = l
		}
	}
}

// New returns a Provider using c. The SDK's retryer (3 attempts with
// backoff by default) handles throttling and 5xx; credkit does not retry on
// top of it.
func New(c *secretsmanager.Client, opts ...Option) *Provider {
	p := &Provider{c: c, tags: DefaultTagNames, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(p)
	}
	return p
}

// ref is a parsed reference: SECRET[?stage=LABEL|version=ID][#field].
type ref struct {
	id, stage, version, field string
}

// parseRef parses a ref. A secret name may hold letters, digits and
// /_+=.@- and an ARN holds colons, but neither holds '?' or '#', which
// therefore delimit the query and the field, in either order.
func parseRef(s string) (ref, error) {
	var r ref
	rest := s
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		fld := rest[i+1:]
		rest = rest[:i]
		if q := strings.IndexByte(fld, '?'); q >= 0 {
			rest += fld[q:]
			fld = fld[:q]
		}
		r.field = fld
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		q, err := provider.Settings(&url.URL{RawQuery: rest[i+1:]}, "stage", "version")
		if err != nil {
			ce := err.(*credential.Error)
			ce.Op, ce.Ref = "fetch", s
			return r, ce
		}
		r.stage, r.version = q["stage"], q["version"]
		rest = rest[:i]
	}
	r.id = rest
	if r.id == "" {
		return r, &credential.Error{Op: "fetch", Ref: s, Kind: credential.ErrInvalid, Reason: "no secret name or ARN"}
	}
	return r, nil
}

// name returns the secret's name: the id, or the name inside an ARN
// (without AWS's 6-character suffix when it has one).
func (r ref) name() string {
	if !strings.HasPrefix(r.id, "arn:") {
		return r.id
	}
	i := strings.Index(r.id, ":secret:")
	if i < 0 {
		return r.id
	}
	n := r.id[i+len(":secret:"):]
	if j := strings.LastIndexByte(n, '-'); j >= 0 && len(n)-j-1 == 6 {
		n = n[:j]
	}
	return n
}

func (r ref) stageOrCurrent() string {
	if r.stage == "" && r.version == "" {
		return "AWSCURRENT"
	}
	return r.stage
}

// mapErr turns an SDK error into a credential error that names the AWS
// error code, never AWS's message (which quotes ARNs, not values, but is
// not ours to vouch for), and keeps the SDK error as its cause (see cause):
// errors.Is finds the sentinel, errors.As the SDK's error types.
func mapErr(op, refStr string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	kind, reason := credential.ErrUnavailable, "Secrets Manager could not be reached"
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		reason = "AWS " + code
		switch {
		case code == "ResourceNotFoundException":
			kind = credential.ErrNotFound
		case code == "AccessDeniedException" || code == "AccessDenied" || code == "DecryptionFailure" ||
			code == "UnrecognizedClientException" || code == "InvalidSignatureException" || code == "ExpiredTokenException" ||
			strings.HasPrefix(code, "KMS"):
			kind = credential.ErrPermission
		case code == "InvalidRequestException" && strings.Contains(ae.ErrorMessage(), "marked for deletion"):
			kind, reason = credential.ErrRevoked, "the secret is scheduled for deletion"
		case code == "InvalidParameterException" || code == "ValidationException" || code == "InvalidRequestException":
			kind = credential.ErrInvalid
		}
		return &credential.Error{Op: op, Ref: refStr, Kind: kind, Reason: reason, Err: safeCause(err)}
	}
	return &credential.Error{Op: op, Ref: refStr, Kind: kind, Reason: reason, Err: safeCause(err)}
}

// cause keeps an SDK error as the cause of a credential error: errors.As
// and errors.Is reach it through Unwrap (a *net.OpError, a
// smithy.APIError, an *awshttp.ResponseError...), while its text is a
// summary credkit builds from what the error is — the HTTP status and
// request ID, the network operation and system error — never from a
// message a server or a decoder wrote.
type cause struct {
	err  error
	text string
}

func (c *cause) Error() string { return c.text }
func (c *cause) Unwrap() error { return c.err }

// safeCause wraps err in a cause.
func safeCause(err error) error {
	var parts []string
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		p := "HTTP " + strconv.Itoa(re.HTTPStatusCode())
		if id := re.ServiceRequestID(); id != "" && credential.SettingName(id) {
			p += ", request ID " + id
		}
		parts = append(parts, p)
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		parts = append(parts, "the response could not be read")
	}
	var dns *net.DNSError
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &dns):
		parts = append(parts, "DNS lookup failed")
	case errors.As(err, &op):
		p := op.Op
		if op.Net != "" {
			p += " " + op.Net
		}
		var se *os.SyscallError
		switch {
		case errors.As(op.Err, &se):
			p += ": " + se.Syscall + ": " + se.Err.Error()
		case errors.Is(op.Err, net.ErrClosed):
			p += ": connection closed"
		}
		parts = append(parts, p)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		parts = append(parts, "connection closed early")
	}
	if errors.As(err, &ne) && ne.Timeout() {
		parts = append(parts, "timeout")
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%T", err))
	}
	return &cause{err: err, text: strings.Join(parts, ", ")}
}

// value extracts the secret value of an entry, and the selected field.
func value(refStr string, r ref, s *string, b []byte) (string, error) {
	var v string
	switch {
	case s != nil:
		v = *s
	case b != nil:
		if !utf8.Valid(b) {
			return "", &credential.Error{Op: "fetch", Ref: refStr, Kind: credential.ErrInvalid, Reason: "SecretBinary is not UTF-8 text"}
		}
		v = string(b)
	}
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

// Fetch reads the secret with GetSecretValue: the AWSCURRENT version, or
// the version stage or id the ref selects. Version.ID is the VersionId and
// Created the version's CreatedDate.
func (p *Provider) Fetch(ctx context.Context, refStr string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	r, err := parseRef(refStr)
	if err != nil {
		return credential.Version{}, err
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.id)}
	if r.stage != "" {
		in.VersionStage = aws.String(r.stage)
	}
	if r.version != "" {
		in.VersionId = aws.String(r.version)
	}
	out, err := p.c.GetSecretValue(ctx, in)
	if err != nil {
		return credential.Version{}, mapErr("fetch", refStr, err)
	}
	v, err := value(refStr, r, out.SecretString, out.SecretBinary)
	if err != nil {
		return credential.Version{}, err
	}
	return credential.Version{Secret: credential.NewSecret(v), ID: aws.ToString(out.VersionId), Created: aws.ToTime(out.CreatedDate)}, nil
}

// pickVersion returns the version id a ref selects in a version-to-stages
// map.
func pickVersion(r ref, m map[string][]string) (string, bool) {
	if r.version != "" {
		st, ok := m[r.version]
		if !ok {
			return "", false
		}
		if r.stage == "" {
			return r.version, true
		}
		for _, s := range st {
			if s == r.stage {
				return r.version, true
			}
		}
		return "", false
	}
	want := r.stageOrCurrent()
	for id, st := range m {
		for _, s := range st {
			if s == want {
				return id, true
			}
		}
	}
	return "", false
}

// CurrentVersion is the cheap check: DescribeSecret returns the version to
// stage map, never the value.
func (p *Provider) CurrentVersion(ctx context.Context, refStr string) (string, error) {
	r, err := parseRef(refStr)
	if err != nil {
		return "", err
	}
	out, err := p.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.id)})
	if err != nil {
		return "", mapErr("check", refStr, err)
	}
	if out.DeletedDate != nil {
		return "", &credential.Error{Op: "check", Ref: refStr, Kind: credential.ErrRevoked, Reason: "the secret is scheduled for deletion"}
	}
	id, ok := pickVersion(r, out.VersionIdsToStages)
	if !ok {
		return "", &credential.Error{Op: "check", Ref: refStr, Kind: credential.ErrNotFound, Reason: "no version has the selected stage or id"}
	}
	return id, nil
}

// listPrefixes returns the name-filter values that cover names: each
// name's first path segment ("prod/" for "prod/openai"), or the whole name
// when it has no '/'.
func listPrefixes(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		p := n
		if i := strings.IndexByte(n, '/'); i >= 0 {
			p = n[:i+1]
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// CurrentVersions checks many refs with ListSecrets: the refs' names are
// covered by name-prefix filters (a filter holds at most 10 values), and
// each page of up to 100 secrets returns every listed secret's version to
// stage map. For N watched secrets under a few prefixes that is ⌈M/100⌉
// calls, M being the secrets under those prefixes. A ref whose secret was
// not listed is left out of the result (the caller checks it alone). When
// the IAM policy denies ListSecrets, the provider logs it once and returns
// an empty map from then on, so callers fall back to per-secret checks.
func (p *Provider) CurrentVersions(ctx context.Context, refs []string) (map[string]string, error) {
	out := map[string]string{}
	parsed, entries, err := p.listEntries(ctx, refs)
	if err != nil {
		return nil, err
	}
	for s, r := range parsed {
		e, ok := entries[r.id]
		if !ok {
			e, ok = entries[r.name()]
		}
		if !ok || e.DeletedDate != nil {
			continue
		}
		if id, ok := pickVersion(r, e.SecretVersionsToStages); ok {
			out[s] = id
		}
	}
	return out, nil
}

// denied reports whether err is an access denial of op, and if so records
// it in flag and logs it once.
func (p *Provider) denied(err error, op string, flag *atomic.Bool) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) || (ae.ErrorCode() != "AccessDeniedException" && ae.ErrorCode() != "AccessDenied") {
		return false
	}
	flag.Store(true)
	if _, loaded := p.logOnce.LoadOrStore(op, true); !loaded {
		p.logger.Warn("credkit: IAM policy denies secretsmanager:"+op+"; using per-secret calls", "operation", op)
	}
	return true
}

// FetchBatch fetches the AWSCURRENT version of many refs with
// BatchGetSecretValue, 20 per call. Refs that select another stage or a
// version, and secrets the batch could not read, are left out of the result
// (the caller fetches them alone). When the IAM policy denies
// BatchGetSecretValue, the provider logs it once and returns an empty map
// from then on.
func (p *Provider) FetchBatch(ctx context.Context, refs []string) (map[string]credential.Version, error) {
	out := map[string]credential.Version{}
	if p.batchDenied.Load() {
		return out, nil
	}
	byID := map[string][]string{}
	var ids []string
	for _, s := range refs {
		r, err := parseRef(s)
		if err != nil || r.stage != "" || r.version != "" {
			continue
		}
		if _, seen := byID[r.id]; !seen {
			ids = append(ids, r.id)
		}
		byID[r.id] = append(byID[r.id], s)
	}
	for len(ids) > 0 {
		n := min(20, len(ids))
		chunk := ids[:n]
		ids = ids[n:]
		res, err := p.c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: chunk})
		if err != nil {
			if p.denied(err, "BatchGetSecretValue", &p.batchDenied) {
				return map[string]credential.Version{}, nil
			}
			return nil, mapErr("fetch", "BatchGetSecretValue", err)
		}
		for _, e := range res.SecretValues {
			var refsOf []string
			for _, id := range chunk {
				if id == aws.ToString(e.Name) || id == aws.ToString(e.ARN) || strings.HasPrefix(aws.ToString(e.ARN), id+"-") {
					refsOf = append(refsOf, byID[id]...)
				}
			}
			for _, s := range refsOf {
				r, _ := parseRef(s)
				v, err := value(s, r, e.SecretString, e.SecretBinary)
				if err != nil {
					continue // Fetch will report it, alone
				}
				out[s] = credential.Version{Secret: credential.NewSecret(v), ID: aws.ToString(e.VersionId), Created: aws.ToTime(e.CreatedDate)}
			}
		}
	}
	return out, nil
}

// Describe returns the secret's tags as metadata (see TagNames; every tag
// lands in Metadata.Tags) and its rotation facts, from DescribeSecret.
func (p *Provider) Describe(ctx context.Context, refStr string) (credential.Description, error) {
	r, err := parseRef(refStr)
	if err != nil {
		return credential.Description{}, err
	}
	out, err := p.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.id)})
	if err != nil {
		return credential.Description{}, mapErr("describe", refStr, err)
	}
	return p.description(out.RotationEnabled, out.LastRotatedDate, out.NextRotationDate, out.Tags), nil
}
