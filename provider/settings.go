package provider

import (
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/credkit/credkit/credential"
)

// OpenError is the error an opener returns about u: a *[credential.Error]
// of the given kind (usually [credential.ErrInvalid]) whose Ref is u
// printed through [credential.SafeRef] — no user info, no setting value
// that is not known to be harmless — so that the raw URL is not even in the
// error's fields. Every opener reports through it.
func OpenError(u *url.URL, kind error, reason string) *credential.Error {
	s := u.String()
	if u.Scheme != "" && u.Opaque == "" && u.Host == "" && u.User == nil && !strings.HasPrefix(s, u.Scheme+"://") {
		// net/url prints "gcp-token://?scope=x" as "gcp-token:?scope=x".
		s = u.Scheme + "://" + strings.TrimPrefix(s, u.Scheme+":")
	}
	return &credential.Error{Op: "open", Ref: credential.SafeRef(s), Kind: kind, Reason: reason}
}

// Settings reads the settings (the query) of u under the one rule every
// opener follows: a setting outside known, or one given twice, is an
// [credential.ErrInvalid] error that names the setting and never its value,
// so that a typo ("?regoin=") or a conflict ("stage=A&stage=B") is never
// ignored, and a token pasted into a URL ("?token=...") is refused without
// being printed. A setting whose name does not look like one (see
// [credential.SettingName]) is refused without being named either. A
// malformed query is ErrInvalid too, and so is a URL with user info (which
// provider.Parse refuses already; an opener called directly gets the same
// answer), printed without it.
//
// It returns one value per setting given. Openers call it first, with
// every setting they understand:
//
//	set, err := provider.Settings(u, "region", "stage", "version")
func Settings(u *url.URL, known ...string) (map[string]string, error) {
	q, err := url.ParseQuery(u.RawQuery)
	bad := func(reason string) error {
		// The error names settings, never values: not even those of
		// harmless settings, which may be where a token was pasted.
		return OpenError(WithoutValues(u), credential.ErrInvalid, reason)
	}
	if u.User != nil {
		// Printed without it: SafeRef would print only "scheme://***".
		nu := *u
		nu.User = nil
		u = &nu
		return nil, bad("credential URLs must not carry user info")
	}
	if err != nil {
		return nil, bad("malformed settings (query)")
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names) // the same URL, the same error
	out := make(map[string]string, len(q))
	for _, k := range names {
		vs := q[k]
		if !contains(known, k) {
			what := "an unknown setting"
			if credential.SettingName(k) {
				what = "unknown setting " + strconv.Quote(k)
			}
			list := "none"
			if len(known) > 0 {
				list = strings.Join(known, ", ")
			}
			return nil, bad(what + " (known: " + list + ")")
		}
		if len(vs) != 1 {
			return nil, bad("setting " + strconv.Quote(k) + " is given " + strconv.Itoa(len(vs)) + " times")
		}
		out[k] = vs[0]
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// WithoutValues returns a copy of u whose every setting value is "_", for
// the error of an opener that refuses a setting's value: [OpenError] prints
// the value of a setting known to be harmless (region, version...), and the
// refused value may be a token pasted in the wrong place.
//
//	return nil, "", provider.OpenError(provider.WithoutValues(u), credential.ErrInvalid, `setting "version" is not a number`)
func WithoutValues(u *url.URL) *url.URL {
	nu := *u
	if u.RawQuery == "" {
		return &nu
	}
	kvs := strings.Split(u.RawQuery, "&")
	for i, kv := range kvs {
		if k, _, ok := strings.Cut(kv, "="); ok {
			kvs[i] = k + "=_"
		}
	}
	nu.RawQuery = strings.Join(kvs, "&")
	return &nu
}
