package redact

import "strings"

// Option configures a [Redactor].
type Option func(*options)

type options struct {
	detectors   []Detector
	keys        map[string]bool // nil: the built-in rule of sensitiveName
	minLen      int
	text        string
	withReasons bool
}

// DefaultSensitiveKeys lists the words of the attribute keys whose values
// the Handler replaces whatever they hold, at every depth (attributes,
// groups, map keys, struct fields). By default a key is split into words at
// "_", "-", ".", spaces and camelCase ("openaiApiKey" is openai api key)
// and is sensitive when its last word or two name a secret: "password",
// "db.password", "openaiApiKey", "clientSecret", "privateKey",
// "accessToken", "refreshToken", "sessionToken", "bearerToken",
// "connection_string", "database_url", "dsn"; never "max_tokens",
// "token_count", "tokens_used" or "next_page_token".
var DefaultSensitiveKeys = []string{
	"password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "authorization",
	"cookie", "set_cookie", "private_key", "client_secret", "credential", "credentials",
	"access_token", "refresh_token", "id_token", "secret_key", "access_key", "session_key",
	"x_api_key", "proxy_authorization", "bearer", "passphrase", "signature",
}

func defaultOptions() options {
	return options{detectors: DefaultDetectors(), minLen: 8, text: "[REDACTED]"}
}

// WithDetectors adds detectors of your own to the defaults.
func WithDetectors(d ...Detector) Option {
	return func(o *options) { o.detectors = append(o.detectors, d...) }
}

// WithoutDetectors switches off the named detectors ("jwt", "bearer"...);
// WithoutDetectors() with no name switches them all off.
func WithoutDetectors(names ...string) Option {
	return func(o *options) {
		if len(names) == 0 {
			o.detectors = nil
			return
		}
		off := map[string]bool{}
		for _, n := range names {
			off[n] = true
		}
		kept := o.detectors[:0:0]
		for _, d := range o.detectors {
			if !off[d.Name] {
				kept = append(kept, d)
			}
		}
		o.detectors = kept
	}
}

// WithSensitiveKeys replaces the sensitive attribute keys (see
// [DefaultSensitiveKeys] for the matching rule).
func WithSensitiveKeys(keys ...string) Option {
	return func(o *options) {
		o.keys = map[string]bool{}
		for _, k := range keys {
			o.keys[normKey(k)] = true
		}
	}
}

// WithMinLength sets the shortest known value accepted (default 8 bytes).
// Shorter values would match ordinary words.
func WithMinLength(n int) Option {
	return func(o *options) {
		if n >= 8 {
			o.minLen = n
		}
	}
}

// WithReplacement sets the replacement text (default "[REDACTED]").
func WithReplacement(text string) Option { return func(o *options) { o.text = text } }

// WithReasons makes replacements say why: "[REDACTED:openai]" for a
// detector, "[REDACTED:known:openai-prod]" for a known value,
// "[REDACTED:key]" for a sensitive key.
func WithReasons() Option { return func(o *options) { o.withReasons = true } }

func (o *options) replacement(reason string) string {
	if !o.withReasons || reason == "" || !strings.HasSuffix(o.text, "]") {
		return o.text
	}
	return o.text[:len(o.text)-1] + ":" + reason + "]"
}

func normKey(k string) string {
	k = strings.ToLower(k)
	return strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(k)
}

// sensitiveKey reports whether key names a secret. It does not allocate.
func (o *options) sensitiveKey(key string) bool {
	if o.keys == nil {
		return sensitiveName(key)
	}
	if len(key) == 0 || len(o.keys) == 0 || len(key) > 128 {
		return len(key) > 128 && o.keys[normKey(key)]
	}
	var buf [128]byte
	k := buf[:len(key)]
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '-' || c == '.' || c == ' ':
			c = '_'
		}
		k[i] = c
	}
	if o.keys[string(k)] {
		return true
	}
	for i := 0; i < len(k); i++ {
		if k[i] == '_' && o.keys[string(k[i+1:])] {
			return true
		}
	}
	return false
}
