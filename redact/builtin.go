package redact

import "strings"

// The built-in detectors are hand-written scanners, not regular
// expressions: each starts at one occurrence of its keyword, reads forward
// (and, for a name, back a bounded 64 bytes) over the characters a token is
// made of, and stops at the first that cannot be part of it. A token is
// matched to its end whatever its length, and no byte is read twice by one
// detector: the scan of a detector resumes after what it has already read,
// so every detector costs linear time in the text, whatever the text.

// finder is a built-in detector: given s and the start at of an occurrence
// of its keyword kw, it appends the spans to redact and returns the end of
// the text it has read, from which its next run may start.
type finder func(s string, at int, kw string, out []span, name string, prio int) ([]span, int)

// Character classes, as 256-entry tables.
type class [256]bool

func mkClass(spec ...string) *class {
	var c class
	for _, s := range spec {
		if len(s) == 3 && s[1] == '-' && s[0] < s[2] {
			for x := int(s[0]); x <= int(s[2]); x++ {
				c[x] = true
			}
			continue
		}
		for i := 0; i < len(s); i++ {
			c[s[i]] = true
		}
	}
	return &c
}

var (
	alnum    = mkClass("a-z", "A-Z", "0-9")
	tokCh    = mkClass("a-z", "A-Z", "0-9", "_-")
	b64Ch    = mkClass("a-z", "A-Z", "0-9", "_-+/=")
	dotTok   = mkClass("a-z", "A-Z", "0-9", "_-.")
	jwtCh    = mkClass("a-z", "A-Z", "0-9", "_-.=")
	hexLower = mkClass("a-f", "0-9")
	upperNum = mkClass("A-Z", "0-9")
	slackCh  = mkClass("a-z", "A-Z", "0-9", "-")
	azureCh  = mkClass("a-z", "A-Z", "0-9", "_~.-")
	bearerCh = mkClass("a-z", "A-Z", "0-9", "._~+/=-")
	wordCh   = mkClass("a-z", "A-Z", "0-9", "_-") // the left boundary of a token
	nameCh   = mkClass("a-z", "A-Z", "0-9", "_.-")
	hookCh   = mkClass("a-z", "A-Z", "0-9", "_/-")
	// userinfo of a URL: what may stand between "://" and "@".
	userCh = func() *class {
		c := mkClass("\x21-\x7e")
		for _, x := range "/?#@\"'<>\\` " {
			c[x] = false
		}
		return c
	}()
)

// run returns the end of the run of class c in s starting at i.
func run(s string, i int, c *class) int {
	for i < len(s) && c[s[i]] {
		i++
	}
	return i
}

// prefixed is a token that starts with one of the prefixes and goes on
// with at least min bytes of body (at most max when max > 0), preceded by
// no token byte.
func prefixed(name string, body *class, min, max int, prefixes ...string) Detector {
	return Detector{Name: name, Keywords: prefixes, fn: func(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
		if at > 0 && wordCh[s[at-1]] {
			// Inside a longer word ("task-sk-" is not a key): skip the word.
			return out, run(s, at+len(kw), body)
		}
		end := run(s, at+len(kw), body)
		n := end - at - len(kw)
		if n >= min && (max == 0 || n <= max) && !placeholder(s[at+len(kw):end]) {
			out = append(out, span{at, end, nm, prio})
		}
		return out, end
	}}
}

// inner is a token recognised by a marker inside it (the OpenAI
// "T3BlbkFJ", Azure AD's "Q~"): the token is the run of c around it.
func inner(name string, c *class, min int, marker string, check func(tok string, m int) bool) Detector {
	return Detector{Name: name, Keywords: []string{marker}, fn: func(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
		start := at
		for start > 0 && at-start < 256 && c[s[start-1]] {
			start--
		}
		end := run(s, at+len(kw), c)
		if end-start >= min && (check == nil || check(s[start:end], at-start)) && !placeholder(s[start:end]) {
			out = append(out, span{start, end, nm, prio})
		}
		return out, end
	}}
}

// placeholder reports whether a value is a stand-in rather than a secret:
// "<token>", "${API_KEY}", "$API_KEY", "{{ .Token }}", "xxx", "****",
// "your-api-key-here", "...", "%s".
func placeholder(v string) bool {
	for len(v) > 0 && (v[0] == '"' || v[0] == '\'' || v[0] == '`') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == '"' || v[len(v)-1] == '\'' || v[len(v)-1] == '`') {
		v = v[:len(v)-1]
	}
	if v == "" {
		return true
	}
	switch v[0] {
	case '<', '{', '%':
		return true
	case '$':
		return len(v) == 1 || v[1] == '{' || v[1] == '(' || run(v, 1, nameCh) == len(v)
	case '[':
		return strings.HasPrefix(v, "[REDACTED") || strings.HasPrefix(v, "[FILTERED")
	}
	same := true
	for i := 1; i < len(v); i++ {
		if v[i] != v[0] {
			same = false
			break
		}
	}
	if same {
		return true
	}
	if len(v) <= 64 && (strings.Contains(v, "xxxx") || strings.Contains(v, "XXXX") || strings.Contains(v, "****") || strings.Contains(v, "...") || strings.Contains(v, "…")) {
		return true
	}
	var lb [64]byte
	if len(v) <= len(lb) {
		l := lb[:len(v)]
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			l[i] = c
		}
		switch string(l) {
		case "null", "nil", "none", "true", "false", "undefined", "empty", "required", "optional",
			"hidden", "secret", "password", "token", "changeme", "redacted", "placeholder", "example",
			"not set", "unset", "masked", "omitted":
			return true
		}
		ls := string(l) // no copy needed beyond here: short-lived
		if strings.Contains(ls, "your") && (strings.Contains(ls, "key") || strings.Contains(ls, "token") ||
			strings.Contains(ls, "secret") || strings.Contains(ls, "pass")) {
			return true
		}
		if strings.HasPrefix(ls, "example") || strings.HasSuffix(ls, "-here") || strings.HasSuffix(ls, "_here") {
			return true
		}
	}
	return false
}

// looksSecret reports whether an unquoted value after "name: " (with a
// space, as prose and code have it) is a credential rather than a word:
// at least 8 bytes, with digits or mixed case or symbols, and not a dotted
// identifier ("config.APIKey").
func looksSecret(v string) bool {
	if len(v) < 8 || placeholder(v) {
		return false
	}
	var lower, upper, digit, sym, dots int
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z':
			lower++
		case c >= 'A' && c <= 'Z':
			upper++
		case c >= '0' && c <= '9':
			digit++
		case c == '.':
			dots++
		default:
			sym++
		}
	}
	if dots > 0 && digit == 0 && sym == 0 {
		return false // a dotted identifier: config.APIKey, os.Getenv
	}
	if digit > 0 && (lower+upper > 0 || len(v) >= 12) {
		return true
	}
	if upper >= 2 && lower >= 2 {
		return true
	}
	return (sym > 0 || upper > 0) && len(v) >= 16 && lower+upper > 0
}

// dsnCh is what a DSN's user:password may hold.
var dsnCh = func() *class {
	c := mkClass("\x21-\x7e")
	for _, x := range "@\"'` " {
		c[x] = false
	}
	return c
}()

// valueEnd ends an unquoted value.
var valueEnd = mkClass(" \t\r\n\"'`,;&<>)]}\\|([")

// assign finds "name=value", "name: value", `"name": "value"`,
// "Name:value" (fmt's %+v of a struct), "Name:[value]" (an http.Header
// printed with %v), keyed on its separator, and redacts the value when the
// name is sensitive ([sensitiveName]).
func assign() Detector {
	return Detector{Name: "key", Keywords: []string{"=", ":"}, fn: findAssign, assign: true, pre: func(s string, at int) bool {
		_, nameEnd := assignName(s, at)
		return nameEnd >= 0
	}}
}

// assignName reads what stands before the separator at s[at] of a
// possible "name=value": it returns where the value may start (next), and
// where the name ends, or end -1 when no sensitive name can stand there
// (a comparison, a URL scheme, a name whose last two letters end no
// sensitive name). The scan calls it before running the detector: most
// '=' and ':' of code, links and JSON stop here.
func assignName(s string, at int) (next, end int) {
	sep := s[at]
	next = at + 1
	if sep == ':' && next < len(s) {
		switch s[next] {
		case '/', ':':
			return next, -1 // a URL scheme or "::"
		case '=':
			next++ // Go's ":="
		}
	}
	if sep == '=' && next < len(s) && (s[next] == '=' || s[next] == '>' || s[next] == '~') {
		return next, -1
	}
	if sep == '=' && at > 0 && (s[at-1] == '!' || s[at-1] == '<' || s[at-1] == '>' || s[at-1] == '=' || s[at-1] == ':') {
		return next, -1
	}
	// The name: back over spaces and a closing quote, then name bytes.
	j := nameEnd(s, at)
	// Most names end in letters no sensitive name ends in: a lookup or two.
	if !mayEnd(s[:j]) {
		return next, -1
	}
	return next, j
}

func findAssign(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
	sep := s[at]
	next, nameEnd := assignName(s, at)
	if nameEnd < 0 {
		return out, next
	}
	j := nameEnd
	for j > 0 && nameEnd-j < 64 && nameCh[s[j-1]] {
		j--
	}
	if j == nameEnd || (j > 0 && nameEnd-j == 64) {
		return out, next
	}
	name := s[j:nameEnd]
	if !mayBeSensitive(name) {
		return out, next
	}
	query := j > 0 && (s[j-1] == '?' || s[j-1] == '&' || s[j-1] == ';')
	if !sensitiveName(name) && !(query && sep == '=' && queryName(name)) {
		return out, next
	}
	auth := len(name) >= 13 && strings.EqualFold(name[len(name)-13:], "authorization")
	// The value.
	v := next
	spaced := false
	for v < len(s) && (s[v] == ' ' || s[v] == '\t') && v-next < 8 {
		v++
		spaced = true
	}
	if at > 0 && s[at-1] == ' ' {
		spaced = true
	}
	for v < len(s) && s[v] == '\\' {
		v++
	}
	quote := byte(0)
	if v < len(s) && (s[v] == '"' || s[v] == '\'' || s[v] == '`') {
		quote = s[v]
		v++
	} else if v < len(s) && s[v] == '[' && sep == ':' {
		v++ // http.Header's %v: Apikey:[v1 v2]
		end := v
		for end < len(s) && s[end] != ']' && s[end] != '\n' {
			end++
		}
		if end > v && !placeholder(s[v:end]) {
			out = append(out, span{v, end, nm, prio})
		}
		return out, end
	}
	if auth {
		// A scheme word first: "Bearer x", "Basic x". AWS SigV4 keeps its
		// fields: Credential names a key id, Signature= is a name of its own.
		w := run(s, v, alnum)
		if w < len(s) && s[w] == '-' {
			w = run(s, w, tokCh)
		}
		scheme := s[v:w]
		if strings.HasPrefix(scheme, "AWS4-") {
			return out, w
		}
		if isScheme(scheme) && w < len(s) && s[w] == ' ' {
			v = w + 1
			for v < len(s) && s[v] == ' ' {
				v++
			}
			spaced = true
		}
	}
	var end int
	if quote != 0 {
		end = v
		for end < len(s) && s[end] != quote && s[end] != '\n' {
			if s[end] == '\\' && quote == '"' && end+1 < len(s) && s[end+1] != '"' {
				end++
			}
			end++
		}
		for end > v && s[end-1] == '\\' {
			end--
		}
		val := s[v:end]
		if val != "" && !placeholder(val) && !(spaced && !auth && quote != '"' && !looksSecret(val)) {
			if auth {
				val = strings.TrimSpace(val)
				if i := strings.IndexByte(val, ' '); i > 0 && isScheme(val[:i]) {
					v += i + 1
				}
			}
			out = append(out, span{v, end, nm, prio})
		}
		return out, end
	}
	end = v
	for end < len(s) && !valueEnd[s[end]] {
		end++
	}
	val := s[v:end]
	if end < len(s) && (s[end] == '(' || s[end] == '[') {
		return out, end // code: token = getToken(), key=os.environ["K"]
	}
	if val == "" || placeholder(val) {
		return out, end
	}
	if spaced && !looksSecret(val) {
		return out, end
	}
	out = append(out, span{v, end, nm, prio})
	return out, end
}

// queryName is a URL query parameter that holds a secret though its name
// alone would not say so elsewhere: "?key=", "&sig=", "&code=".
func queryName(n string) bool {
	switch strings.ToLower(n) {
	case "key", "sig", "code", "auth", "pass", "client_secret", "x-amz-credential", "x-goog-credential":
		return true
	}
	return false
}

func isScheme(w string) bool {
	switch strings.ToLower(w) {
	case "bearer", "basic", "token", "digest", "negotiate", "apikey", "api-key", "bot", "key", "sso-key", "dpop", "splunk", "ghost":
		return true
	}
	return false
}

// bearer finds "Bearer x" anywhere (as curl -H and header dumps have it).
func bearer(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
	v := at + len(kw)
	if at > 0 && wordCh[s[at-1]] {
		return out, v
	}
	for v < len(s) && s[v] == ' ' {
		v++
	}
	if v == at+len(kw) {
		return out, v
	}
	end := run(s, v, bearerCh)
	val := s[v:end]
	if end < len(s) && (s[end] == ':' || s[end] == '(') {
		return out, end // a name or a call, not a token
	}
	if e := strings.TrimRight(val, "="); strings.IndexByte(e, '=') >= 0 {
		return out, v + strings.IndexByte(e, '=') // name=value, not a token
	}
	if len(val) >= 12 && looksSecret(val) {
		out = append(out, span{v, end, nm, prio})
	}
	return out, end
}

// urlPassword finds the password of scheme://user:password@host, and a
// token standing as the user (https://ghp_x@github.com).
func urlPassword(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
	// Keyed on the '@' that ends the userinfo, not on "://": most URLs
	// have none, and cost nothing. Back over the userinfo (userCh holds
	// no '@', so only the first '@' after "://" reaches it) to a scheme's
	// "://".
	u := at
	for u > 0 && userCh[s[u-1]] {
		u--
	}
	if u < 4 || s[u-3:u] != "://" || !alnum[s[u-4]] {
		return out, at + 1
	}
	ui := s[u:at]
	if c := strings.IndexByte(ui, ':'); c >= 0 {
		pw := ui[c+1:]
		if pw != "" && !placeholder(pw) {
			out = append(out, span{u + c + 1, at, nm, prio})
		}
	} else if len(ui) >= 16 && looksSecret(ui) {
		out = append(out, span{u, at, nm, prio})
	}
	return out, at + 1
}

// dsn finds go-sql-driver's user:password@tcp(host) and @unix(path).
func dsn(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
	j := at
	for j > 0 && at-j < 256 && dsnCh[s[j-1]] {
		j--
	}
	ui := s[j:at]
	if c := strings.IndexByte(ui, ':'); c >= 0 && c+1 < len(ui) && !placeholder(ui[c+1:]) {
		out = append(out, span{j + c + 1, at, nm, prio})
	}
	return out, at + len(kw)
}

// flagValue finds the value after a command-line flag: curl's -u
// user:password (the part after the colon), docker login's -p and
// --password, .netrc's "login user password p".
func flagValue(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
	v := at + len(kw)
	quote := byte(0)
	if v < len(s) && (s[v] == '"' || s[v] == '\'') {
		quote = s[v]
		v++
	}
	end := v
	for end < len(s) && s[end] != ' ' && s[end] != '\t' && s[end] != '\n' && s[end] != '\r' && s[end] != quote && (quote != 0 || (s[end] != '"' && s[end] != '\'')) {
		end++
	}
	val := s[v:end]
	if val == "" || val[0] == '-' || placeholder(val) {
		return out, end
	}
	switch strings.TrimSpace(kw) {
	case "-u", "--user":
		c := strings.IndexByte(val, ':')
		if c < 0 || c+1 == len(val) || placeholder(val[c+1:]) {
			return out, end
		}
		return append(out, span{v + c + 1, end, nm, prio}), end
	case "-p":
		// Only after a registry login: "docker login -u x -p y".
		lineStart := strings.LastIndexByte(s[max(0, at-256):at], '\n') + max(0, at-256) + 1
		if !strings.Contains(s[lineStart:at], "login") {
			return out, end
		}
	case "password":
		// .netrc: "login <user> password <p>" (on one line or several).
		if !netrcLogin(s[max(0, at-256):at]) {
			return out, end
		}
	}
	return append(out, span{v, end, nm, prio}), end
}

// netrcLogin reports whether before ends with "login <user> " (any space).
func netrcLogin(before string) bool {
	t := strings.TrimRight(before, " \t\r\n")
	i := strings.LastIndexAny(t, " \t\r\n")
	if i < 0 {
		return false
	}
	t = strings.TrimRight(t[:i], " \t\r\n")
	return strings.HasSuffix(t, "login") && (len(t) == 5 || strings.ContainsRune(" \t\r\n", rune(t[len(t)-6])))
}

// privateKey finds a PEM or PGP private key block, from its BEGIN line to
// the end of its END line (to the end of the text when it has none).
func privateKey(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
	h := at + len(kw)
	e := strings.Index(s[h:min(len(s), h+64)], "-----")
	if e < 0 {
		return out, h
	}
	label := s[h : h+e]
	if !strings.Contains(label, "PRIVATE KEY") {
		return out, h + e
	}
	body := h + e + 5
	end := len(s)
	for end > body && (s[end-1] == '\n' || s[end-1] == '\r') {
		end--
	}
	if k := strings.Index(s[body:], "-----END "); k >= 0 {
		end = body + k + len("-----END ")
		if k2 := strings.Index(s[end:min(len(s), end+64)], "-----"); k2 >= 0 {
			end += k2 + 5
		}
	}
	return append(out, span{at, end, nm, prio}), end
}

// jwt finds a JSON Web Token (three or five base64url parts), whatever its
// length.
func jwt(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
	if at > 0 && wordCh[s[at-1]] {
		return out, run(s, at, jwtCh)
	}
	end := run(s, at, jwtCh)
	if end-at >= 24 && strings.Count(s[at:end], ".") >= 2 {
		out = append(out, span{at, end, nm, prio})
	}
	return out, end
}

// webhook finds the secret path of a webhook URL after its fixed part.
func webhook(s string, at int, kw string, out []span, nm string, prio int) ([]span, int) {
	v := at + len(kw)
	end := run(s, v, hookCh)
	if end-v >= 16 {
		out = append(out, span{v, end, nm, prio})
	}
	return out, end
}

func fnDet(name string, fn finder, keywords ...string) Detector {
	return Detector{Name: name, Keywords: keywords, fn: fn}
}

// builtin returns the built-in detectors, from the vendors' documented key
// formats and the rule sets of gitleaks and trufflehog (the README has the
// table). Earlier entries win a tie.
func builtin() []Detector {
	return []Detector{
		fnDet("private-key", privateKey, "-----BEGIN "),
		prefixed("anthropic", tokCh, 20, 0, "sk-ant-"),
		prefixed("openrouter", tokCh, 32, 0, "sk-or-v1-"),
		prefixed("langfuse", tokCh, 20, 0, "sk-lf-"),
		prefixed("openai", tokCh, 20, 0, "sk-"),
		inner("openai", tokCh, 30, "T3BlbkFJ", nil),
		prefixed("cerebras", alnum, 32, 0, "csk-"),
		prefixed("google", tokCh, 35, 0, "AIza"),
		prefixed("google-oauth", dotTok, 20, 0, "ya29."),
		prefixed("google-oauth", tokCh, 30, 0, "1//0"),
		prefixed("google-oauth", tokCh, 20, 0, "GOCSPX-"),
		prefixed("huggingface", alnum, 30, 0, "hf_", "api_org_"),
		prefixed("groq", alnum, 40, 0, "gsk_"),
		prefixed("replicate", alnum, 30, 0, "r8_"),
		prefixed("perplexity", alnum, 40, 0, "pplx-"),
		prefixed("xai", alnum, 40, 0, "xai-"),
		prefixed("pinecone", tokCh, 40, 0, "pcsk_"),
		prefixed("together", tokCh, 30, 0, "tgp_v1_"),
		prefixed("nvidia", tokCh, 40, 0, "nvapi-"),
		prefixed("langsmith", tokCh, 40, 0, "lsv2_"),
		prefixed("voyage", tokCh, 32, 0, "pa-"),
		prefixed("tavily", tokCh, 20, 0, "tvly-"),
		prefixed("fireworks", alnum, 20, 0, "fw_"),
		prefixed("elevenlabs", alnum, 32, 0, "sk_"),
		prefixed("aws", upperNum, 16, 16, "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA", "ASCA"),
		prefixed("aws-session-token", b64Ch, 100, 0, "FwoGZXIvYXdz", "IQoJb3JpZ2lu", "IQoKb3JpZ2lu"),
		prefixed("aws-bedrock", b64Ch, 20, 0, "ABSK"),
		prefixed("github", alnum, 36, 0, "ghp_", "gho_", "ghs_", "ghu_", "ghr_"),
		prefixed("github", tokCh, 22, 0, "github_pat_"),
		prefixed("gitlab", tokCh, 20, 0, "glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-"),
		prefixed("slack", slackCh, 10, 0, "xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "xoxe-", "xapp-"),
		fnDet("slack-webhook", webhook, "hooks.slack.com/services/", "hooks.slack.com/workflows/"),
		fnDet("discord-webhook", webhook, "discord.com/api/webhooks/", "discordapp.com/api/webhooks/"),
		prefixed("stripe", b64Ch, 20, 0, "sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"),
		prefixed("sendgrid", dotTok, 60, 0, "SG."),
		prefixed("twilio", hexLower, 32, 32, "SK"),
		prefixed("npm", alnum, 36, 0, "npm_"),
		prefixed("pypi", tokCh, 50, 0, "pypi-AgEIcHlwaS5vcmc"),
		prefixed("shopify", alnum, 32, 0, "shpat_", "shpss_", "shpca_", "shppa_"),
		prefixed("digitalocean", hexLower, 64, 0, "dop_v1_", "doo_v1_", "dor_v1_"),
		prefixed("hashicorp", tokCh, 24, 0, "hvs.", "hvb."),
		prefixed("grafana", b64Ch, 32, 0, "glc_", "glsa_"),
		prefixed("newrelic", alnum, 27, 0, "NRAK-"),
		prefixed("postman", tokCh, 59, 0, "PMAK-"),
		prefixed("linear", alnum, 40, 0, "lin_api_"),
		prefixed("notion", alnum, 40, 0, "ntn_", "secret_"),
		prefixed("age", upperNum, 58, 0, "AGE-SECRET-KEY-1"),
		prefixed("doppler", alnum, 40, 0, "dp.pt.", "dp.st.", "dp.ct.", "dp.sa."),
		prefixed("sentry", b64Ch, 50, 0, "sntrys_", "sntryu_"),
		prefixed("mailgun", hexLower, 32, 32, "key-"),
		prefixed("atlassian", tokCh, 100, 0, "ATATT3"),
		inner("azure-ad", azureCh, 38, "Q~", func(tok string, m int) bool { return m >= 4 && tok[m-1] >= '0' && tok[m-1] <= '9' }),
		fnDet("jwt", jwt, "eyJ"),
		fnDet("bearer", bearer, "Bearer", "BEARER"),
		fnDet("url-password", urlPassword, "@"),
		fnDet("dsn", dsn, "@tcp(", "@unix("),
		fnDet("flag", flagValue, " -u ", "--user ", " -p ", "--password ", "password "),
		assign(),
	}
}
