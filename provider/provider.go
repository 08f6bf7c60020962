package provider

import (
	"context"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/credkit/credkit/credential"
)

// Opener opens the URLs of one scheme: it returns the provider that serves
// u and the ref to pass to its Fetch. u has its query in RawQuery and only
// the field in Fragment. An opener returns one shared Provider per backend
// configuration, so a rotate.Set can batch the checks of the credentials it
// serves. Openers must be safe for concurrent use.
type Opener interface {
	OpenURL(ctx context.Context, u *url.URL) (p credential.Provider, ref string, err error)
}

// OpenerFunc adapts a function to [Opener].
type OpenerFunc func(ctx context.Context, u *url.URL) (credential.Provider, string, error)

// OpenURL calls f.
func (f OpenerFunc) OpenURL(ctx context.Context, u *url.URL) (credential.Provider, string, error) {
	return f(ctx, u)
}

// URLMux resolves credential URLs by scheme. It implements
// [credential.Resolver] and is safe for concurrent use.
type URLMux struct {
	mu      sync.RWMutex
	openers map[string]Opener
}

var _ credential.Resolver = (*URLMux)(nil)

// NewURLMux returns a mux with env:// and file:// registered (see
// [EnvOpener] and [FileOpener] for their URLs and settings), each returning
// one shared provider per configuration.
func NewURLMux() *URLMux {
	return &URLMux{openers: map[string]Opener{"env": EnvOpener(), "file": FileOpener()}}
}

func withField(ref, fld string) string {
	if fld == "" {
		return ref
	}
	return ref + "#" + fld
}

// Register adds the opener of scheme. It fails (ErrInvalid) on an empty or
// malformed scheme and on one already registered: replacing a backend is
// never silent.
func (m *URLMux) Register(scheme string, o Opener) error {
	if !validScheme(scheme) || o == nil {
		return &credential.Error{Op: "register", Ref: scheme, Kind: credential.ErrInvalid, Reason: "not a URL scheme, or no opener"}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.openers[scheme]; dup {
		return &credential.Error{Op: "register", Ref: scheme, Kind: credential.ErrInvalid, Reason: "scheme is already registered"}
	}
	m.openers[scheme] = o
	return nil
}

// Schemes returns the registered schemes, sorted.
func (m *URLMux) Schemes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := make([]string, 0, len(m.openers))
	for k := range m.openers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Resolve returns the provider and ref for rawURL.
func (m *URLMux) Resolve(ctx context.Context, rawURL string) (credential.Provider, string, error) {
	u, err := Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	m.mu.RLock()
	o, ok := m.openers[u.Scheme]
	m.mu.RUnlock()
	if !ok {
		return nil, "", &credential.Error{Op: "open", Ref: credential.SafeRef(rawURL), Kind: credential.ErrInvalid, Reason: "no backend registered for scheme " + `"` + u.Scheme + `"`}
	}
	return o.OpenURL(ctx, u)
}

// Parse parses a credential URL, accepting the field before or after the
// query, and returns it with the query in RawQuery and only the field in
// Fragment. Errors print the URL through [credential.SafeRef].
func Parse(rawURL string) (*url.URL, error) {
	bad := func(reason string) error {
		return &credential.Error{Op: "open", Ref: credential.SafeRef(rawURL), Kind: credential.ErrInvalid, Reason: reason}
	}
	i := strings.Index(rawURL, "://")
	if i <= 0 || !validScheme(rawURL[:i]) {
		return nil, bad("not a credential URL (scheme://ref)")
	}
	s := rawURL
	// "#field?query" → "?query#field".
	if h := strings.IndexByte(s, '#'); h >= 0 {
		if q := strings.IndexByte(s[h:], '?'); q >= 0 {
			s = s[:h] + s[h+q:] + s[h:h+q]
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's errors quote the input, which may hold a token: drop them.
		return nil, bad("malformed URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.User != nil {
		return nil, bad("credential URLs must not carry user info")
	}
	return u, nil
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
