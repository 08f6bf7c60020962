package providertest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

// RefusedURL is a URL every opener must refuse with
// [credential.ErrInvalid], and the value its error must not show.
type RefusedURL struct {
	Why     string // "user info", "unknown setting", "repeated setting"
	URL     string
	Value   string // the fake secret the URL carries (decoded)
	Setting string // the setting the error names, "" when none
}

// urlValues are fake secrets with the shapes that break naive printers: a
// '/' (AWS secret keys), '+', '@', ':', '&', '#', '=', '%' and spaces.
var urlValues = []string{
	"ckt_QzXvKwJqYzPxWvQkZj",
	"wJqZ/K7MxVq/bPxRfiCYzQkWvXyJ",
	"sk-tqzXvKwJqYzPxW+vQk=",
	"ckt@QzXv:KwJq@YzPx",
	"ckt&QzXv=KwJq#YzPx?Wv",
	"ckt%QzXv KwJq;YzPx",
}

// RefusedURLs returns many URLs that an opener must refuse: base (a URL the
// opener accepts, with no query, fragment or user info) carrying each fake
// value of this package as user info, in an unknown setting (a typo of
// setting, "token", "password", "key"), and in setting given twice. setting
// is one of the opener's settings, or "" for an opener that takes none (the
// repeated cases then repeat an unknown setting, refused all the same).
func RefusedURLs(base, setting string) []RefusedURL {
	scheme, rest, _ := strings.Cut(base, "://")
	var out []RefusedURL
	for _, v := range urlValues {
		e := url.QueryEscape(v)
		pe := url.PathEscape(v)
		ue := url.UserPassword("svc", v).String()
		for _, ui := range []string{ue, url.User(v).String(), "svc:" + pe, pe + ":x"} {
			out = append(out, RefusedURL{Why: "user info", URL: scheme + "://" + ui + "@" + rest, Value: v})
		}
		// A raw value holding '/' or '@' as user info: the '@' may sit in
		// the path, where only a careful printer drops it.
		out = append(out, RefusedURL{Why: "user info", URL: scheme + "://svc:" + v + "@" + rest, Value: v})
		unknown := []string{"token", "password", "key", "api_key", "Token"}
		if setting != "" && len(setting) > 2 {
			unknown = append(unknown, setting[:1]+setting[2:]+setting[1:2], strings.ToUpper(setting), setting+"s")
		}
		for _, u := range unknown {
			out = append(out,
				RefusedURL{Why: "unknown setting", URL: base + "?" + u + "=" + e, Value: v, Setting: u},
				RefusedURL{Why: "unknown setting", URL: base + "#f?" + u + "=" + e, Value: v, Setting: u})
			if setting != "" {
				out = append(out, RefusedURL{Why: "unknown setting", URL: base + "?" + setting + "=x&" + u + "=" + e, Value: v, Setting: u})
			}
		}
		rep := setting
		if rep == "" {
			rep = "token"
		}
		out = append(out,
			RefusedURL{Why: "repeated setting", URL: base + "?" + rep + "=" + e + "&" + rep + "=" + e, Value: v, Setting: rep},
			RefusedURL{Why: "repeated setting", URL: base + "?" + rep + "=a&" + rep + "=" + e, Value: v, Setting: rep},
			RefusedURL{Why: "repeated setting", URL: base + "?" + rep + "=" + e + "&" + rep + "=b&" + rep + "=" + e, Value: v, Setting: rep},
		)
	}
	return out
}

// CheckRefused opens each URL with open and fails the test unless open
// refuses it with [credential.ErrInvalid], its error names the setting (when
// the case has one) and neither the error's text nor its fields hold 4
// bytes of the value (in plain, query-escaped or path-escaped form). A
// failure shows the case's index and reason, never the URL.
func CheckRefused(t testing.TB, open func(ctx context.Context, rawURL string) error, cases []RefusedURL) {
	t.Helper()
	ctx := context.Background()
	for i, c := range cases {
		err := open(ctx, c.URL)
		if err == nil {
			t.Errorf("case %d (%s): accepted", i, c.Why)
			continue
		}
		if !errors.Is(err, credential.ErrInvalid) {
			t.Errorf("case %d (%s): error is not ErrInvalid", i, c.Why)
		}
		text := err.Error() + "\n" + fmt.Sprintf("%+v %#v", err, err)
		var ce *credential.Error
		if errors.As(err, &ce) {
			text += "\n" + ce.Ref + "\n" + ce.Reason
		}
		for _, form := range []string{c.Value, url.QueryEscape(c.Value), url.PathEscape(c.Value)} {
			if off := Leak(text, form); off >= 0 {
				t.Errorf("case %d (%s): the error holds bytes %d-%d of the value", i, c.Why, off, off+4)
			}
		}
		if c.Setting != "" && !strings.Contains(err.Error(), `"`+c.Setting+`"`) {
			t.Errorf("case %d (%s): the error does not name setting %q", i, c.Why, c.Setting)
		}
	}
}

// Openers returns two ways to open a URL of scheme with o, for
// [CheckRefused]: "mux", as a [provider.URLMux] does (provider.Parse, then
// o), and "direct",
// o.OpenURL on the URL as net/url parses it (with the "#field?query" order
// moved as provider.Parse moves it), as a caller with its own URL parsing
// would call it. A URL that net/url cannot parse reaches no opener and
// counts as refused.
func Openers(scheme string, o provider.Opener) map[string]func(context.Context, string) error {
	return map[string]func(context.Context, string) error{
		"mux": func(ctx context.Context, raw string) error {
			// What URLMux.Resolve does for a registered scheme.
			if !strings.HasPrefix(raw, scheme+"://") {
				return &credential.Error{Op: "open", Kind: credential.ErrInvalid, Reason: "another scheme"}
			}
			u, err := provider.Parse(raw)
			if err != nil {
				return err
			}
			_, _, err = o.OpenURL(ctx, u)
			return err
		},
		"direct": func(ctx context.Context, raw string) error {
			if h := strings.IndexByte(raw, '#'); h >= 0 {
				if q := strings.IndexByte(raw[h:], '?'); q >= 0 {
					raw = raw[:h] + raw[h+q:] + raw[h:h+q]
				}
			}
			u, err := url.Parse(raw)
			if err != nil {
				return &credential.Error{Op: "open", Kind: credential.ErrInvalid, Reason: "not a URL"}
			}
			_, _, err = o.OpenURL(ctx, u)
			return err
		},
	}
}
