package env

import (
	"context"
	"os"
	"strings"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
)

// Provider fetches secrets from environment variables. It is safe for
// concurrent use.
type Provider struct {
	prefix  string
	lookup  func(string) (string, bool)
	maxSize int
}

var _ credential.Provider = (*Provider)(nil)

// Option configures a Provider.
type Option func(*Provider)

// WithPrefix prepends prefix to every ref: with WithPrefix("MYAPP_"), the ref
// "OPENAI_API_KEY" reads MYAPP_OPENAI_API_KEY.
func WithPrefix(prefix string) Option { return func(p *Provider) { p.prefix = prefix } }

// WithLookup replaces os.LookupEnv, for tests and for reading from a map.
func WithLookup(lookup func(name string) (string, bool)) Option {
	return func(p *Provider) { p.lookup = lookup }
}

// WithMaxSize sets the largest value accepted, in bytes (default 64 KiB).
func WithMaxSize(n int) Option { return func(p *Provider) { p.maxSize = n } }

// New returns a Provider reading the process environment with no prefix
// and a 64 KiB size limit.
func New(opts ...Option) *Provider {
	p := &Provider{lookup: os.LookupEnv, maxSize: 64 << 10}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Fetch returns the value of the variable named by ref (plus the prefix), or
// of the field of its JSON value selected by "#field".
func (p *Provider) Fetch(ctx context.Context, ref string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	name, fld := field.Split(ref)
	if name == "" || strings.ContainsAny(name, "=\x00") {
		// The ref is not printed: "A=sk-..." may be a value pasted where
		// a name belongs, and credential.SafeRef prints a plain ref whole.
		return credential.Version{}, &credential.Error{Op: "fetch", Kind: credential.ErrInvalid, Reason: "not a variable name"}
	}
	raw, ok := p.lookup(p.prefix + name)
	if !ok {
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: ref, Kind: credential.ErrNotFound, Reason: "variable " + p.prefix + name + " is not set"}
	}
	value := raw
	if fld != "" {
		if err := field.Check(raw, p.maxSize); err != nil {
			return credential.Version{}, field.Annotate(err, "fetch", ref)
		}
		v, err := field.JSON([]byte(raw), fld)
		if err != nil {
			return credential.Version{}, field.Annotate(err, "fetch", ref)
		}
		value = v
	}
	value, err := field.Value(value, p.maxSize)
	if err != nil {
		return credential.Version{}, field.Annotate(err, "fetch", ref)
	}
	return credential.Version{Secret: credential.NewSecret(value), ID: field.ContentID(value)}, nil
}
