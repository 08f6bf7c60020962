package credential

import (
	"net/url"
	"strings"
)

// harmlessSettings are the URL settings whose values are configuration,
// never a secret, and are printed as they are (when they look like
// configuration: see harmlessValue). Every other setting's value is printed
// as "_".
var harmlessSettings = map[string]bool{
	"region": true, "stage": true, "version": true, "version_id": true,
	"profile": true, "prefix": true, "format": true, "mount": true, "namespace": true,
	"allow_insecure_mode": true, "allow_group_readable": true, "root": true,
}

// urlSettings hold a URL: it is printed through SafeRef's own rules, without
// its user info, query or fragment.
var urlSettings = map[string]bool{"endpoint": true}

// SafeRef returns ref fit for an error or a log. Every URL credkit prints
// goes through it.
//
// A URL (a ref that starts with a scheme, even a malformed one, and ':')
// holding an '@' anywhere
// after its scheme is printed as the scheme and "***" alone
// ("postgres://***"): the '@' may end user info, and since a password may
// hold '/', '?', '#', '&' or '@' itself, no part of the rest can be trusted
// to be free of it. A '@' that is not user info (in a path or a setting)
// makes SafeRef print less, never more.
//
// For every other ref:
//
//   - The value of each setting (query parameter) is replaced by "_", unless
//     the setting is known to be harmless (region, stage, version, profile,
//     prefix, format, mount, namespace, root, allow_insecure_mode,
//     allow_group_readable) and its value looks like configuration. The
//     value of endpoint is printed as scheme://host/path, without user info,
//     query or fragment.
//   - A setting's name is printed when it looks like a name (letters,
//     digits, '_', '-', '.', up to 32 bytes), as "_" otherwise.
//   - A fragment ("#field") is printed unless it holds '=' or '&' (an OAuth
//     fragment carries a token).
//
// A plain ref without "://", '?' or '#' is returned as it is.
func SafeRef(ref string) string {
	return safeRef(ref, true)
}

func safeRef(ref string, nested bool) string {
	if c := strings.IndexByte(ref, ':'); c >= 0 && !strings.ContainsAny(ref[:c], "/?#@&=") && strings.IndexByte(ref[c+1:], '@') >= 0 {
		// User info, or an '@' that might end it: nothing after the
		// scheme can be trusted to be free of it.
		n := c + 1
		for n < len(ref) && n < c+3 && ref[n] == '/' {
			n++
		}
		return ref[:n] + "***"
	}
	var b strings.Builder
	rest := ref
	// The path ends at the first '?' or '#'; credkit accepts the field
	// before or after the query.
	q, h := strings.IndexByte(rest, '?'), strings.IndexByte(rest, '#')
	var path, query, frag string
	hasQuery, hasFrag := q >= 0, h >= 0
	fragFirst := hasFrag && (!hasQuery || h < q)
	switch {
	case fragFirst:
		path = rest[:h]
		if hasQuery {
			frag, query = rest[h+1:q], rest[q+1:]
		} else {
			frag = rest[h+1:]
		}
	case hasQuery:
		path = rest[:q]
		query = rest[q+1:]
		if h2 := strings.IndexByte(query, '#'); h2 >= 0 {
			query, frag = query[:h2], query[h2+1:]
			hasFrag = true
		}
	default:
		path = rest
	}
	b.WriteString(path)
	writeFrag := func() {
		if !hasFrag {
			return
		}
		b.WriteByte('#')
		if strings.ContainsAny(frag, "=&") {
			b.WriteByte('_')
		} else {
			b.WriteString(frag)
		}
	}
	if fragFirst {
		writeFrag()
	}
	if hasQuery {
		b.WriteByte('?')
		for j, kv := range strings.Split(query, "&") {
			if j > 0 {
				b.WriteByte('&')
			}
			k, v, hasValue := strings.Cut(kv, "=")
			name, err := url.QueryUnescape(k)
			if err != nil || !SettingName(name) {
				b.WriteByte('_')
			} else {
				b.WriteString(name)
			}
			if !hasValue {
				continue
			}
			b.WriteByte('=')
			b.WriteString(safeValue(name, v, nested))
		}
	}
	if !fragFirst {
		writeFrag()
	}
	return b.String()
}

// safeValue is the printed form of the raw value v of setting name.
func safeValue(name, v string, nested bool) string {
	dec, err := url.QueryUnescape(v)
	if err != nil {
		return "_"
	}
	switch {
	case harmlessSettings[name] && harmlessValue(dec):
		return dec
	case urlSettings[name] && nested:
		u, err := url.Parse(dec)
		if err != nil || u.Scheme == "" || strings.IndexByte(dec, '@') >= 0 {
			return "_"
		}
		out := u.Scheme + "://" + u.Host + u.EscapedPath()
		if !harmlessValue(out) {
			return "_"
		}
		return out
	}
	return "_"
}

// harmlessValue reports whether v looks like configuration: up to 256
// bytes of letters, digits and . _ - / : + , only.
func harmlessValue(v string) bool {
	if len(v) > 256 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '+' || c == ',':
		default:
			return false
		}
	}
	return true
}

// SettingName reports whether s may be printed as the name of a URL
// setting: 1 to 32 bytes of letters, digits, '_', '-' and '.'. Anything
// else (a token pasted where a setting belongs) is printed as "_" by
// [SafeRef] and left unnamed in errors.
func SettingName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '-':
		default:
			return false
		}
	}
	return true
}
