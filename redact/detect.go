package redact

import (
	"regexp"
	"strings"
)

// Detector finds a well-known token format in text, for secrets credkit was
// never told about. Keywords are literal strings of which at least one
// occurs in any match (usually the token's prefix): the Redactor runs the
// Pattern only on text that holds a keyword, found in one pass for all
// detectors, so that many detectors cost little more than one. Group is the
// submatch to redact (0: the whole match), so that "Authorization: Bearer
// X" keeps its header name and loses X.
type Detector struct {
	Name     string
	Keywords []string
	Pattern  *regexp.Regexp
	Group    int
}

// b is a left word boundary for tokens that start with letters: the start
// of the text or a byte that cannot be part of a token.
const b = `(?:^|[^A-Za-z0-9_-])`

func det(name, re string, group int, keywords ...string) Detector {
	return Detector{Name: name, Keywords: keywords, Pattern: regexp.MustCompile(re), Group: group}
}

// DefaultDetectors returns the built-in detectors, written from the vendors'
// documented key formats. Each call returns new values, which a caller may
// filter ([WithoutDetectors]) or extend ([WithDetectors]).
func DefaultDetectors() []Detector {
	return []Detector{
		det("anthropic", b+`(sk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_-]{20,})`, 1, "sk-ant-"),
		det("openrouter", b+`(sk-or-v1-[A-Za-z0-9]{32,})`, 1, "sk-or-v1-"),
		det("openai", b+`(sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,})`, 1, "sk-"),
		det("openai", `[A-Za-z0-9_-]{8,}T3BlbkFJ[A-Za-z0-9_-]{8,}`, 0, "T3BlbkFJ"),
		det("google", b+`(AIza[0-9A-Za-z_-]{35})`, 1, "AIza"),
		det("huggingface", b+`((?:hf_|api_org_)[A-Za-z0-9]{30,})`, 1, "hf_", "api_org_"),
		det("groq", b+`(gsk_[A-Za-z0-9]{40,})`, 1, "gsk_"),
		det("replicate", b+`(r8_[A-Za-z0-9]{30,})`, 1, "r8_"),
		det("perplexity", b+`(pplx-[A-Za-z0-9]{40,})`, 1, "pplx-"),
		det("xai", b+`(xai-[A-Za-z0-9]{40,})`, 1, "xai-"),
		det("pinecone", b+`(pcsk_[A-Za-z0-9_]{40,})`, 1, "pcsk_"),
		det("together", b+`(tgp_v1_[A-Za-z0-9_-]{30,})`, 1, "tgp_v1_"),
		det("nvidia", b+`(nvapi-[A-Za-z0-9_-]{40,})`, 1, "nvapi-"),
		det("langsmith", b+`(lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})`, 1, "lsv2_"),
		det("aws", `\b((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z2-7]{16})\b`, 1,
			"AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA", "ASCA"),
		det("aws-bedrock", b+`(ABSK[A-Za-z0-9+/]{20,}={0,2})`, 1, "ABSK"),
		det("github", b+`((?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{36,})`, 1, "ghp_", "gho_", "ghs_", "ghu_", "ghr_"),
		det("github", b+`(github_pat_[A-Za-z0-9_]{22,})`, 1, "github_pat_"),
		det("slack", b+`(xox[baprs]-[A-Za-z0-9-]{10,})`, 1, "xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"),
		det("slack", b+`(xapp-\d-[A-Za-z0-9-]{10,})`, 1, "xapp-"),
		det("slack-webhook", `https://hooks\.slack\.com/services/[A-Za-z0-9_/-]+`, 0, "hooks.slack.com"),
		det("stripe", b+`((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,})`, 1, "sk_live_", "sk_test_", "rk_live_", "rk_test_"),
		det("jwt", b+`(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})`, 1, "eyJ"),
		det("private-key", `-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|\z)`, 0, "-----BEGIN"),
		det("authorization", `(?i)authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest|apikey)?\s*([A-Za-z0-9._~+/=:-]{8,})`, 1,
			"uthorization", "UTHORIZATION"),
		det("bearer", `(?:Bearer|bearer|BEARER)\s+([A-Za-z0-9._~+/-]{20,}=*)`, 1, "Bearer", "bearer", "BEARER"),
		det("api-key-header", `(?i)(?:x-api-key|api-key|x-goog-api-key|x-auth-token|apikey)["']?\s*[:=]\s*["']?([A-Za-z0-9._~+/-]{8,})`, 1,
			"pi-key", "PI-KEY", "pi-Key", "piKey", "pikey", "PIKEY", "uth-token", "uth-Token", "UTH-TOKEN"),
		det("url-password", `[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@"'<>]*:([^\s/@"'<>]+)@`, 1, "://"),
		det("query-secret", `(?i)[?&;](?:key|api_key|apikey|api-key|token|access_token|refresh_token|id_token|auth|password|passwd|pwd|secret|client_secret|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)=([^&#\s"'<>;]+)`, 1,
			"key=", "KEY=", "token=", "Token=", "TOKEN=", "auth=", "password=", "Password=", "PASSWORD=", "passwd=", "pwd=", "PWD=", "Pwd=",
			"secret=", "Secret=", "SECRET=", "sig=", "Signature=", "signature=", "Credential=", "credential="),
	}
}

// detectors is the compiled form: a keyword pre-filter shared by every
// detector, then the detectors' own patterns.
type detectors struct {
	list []Detector
	// bigram marks the first two bytes of every keyword; kws lists the
	// keywords (with their detector index) by first two bytes.
	bigram [1 << 16 / 64]uint64
	kws    map[uint16][]kw
	short  []kw // keywords shorter than two bytes (none of the defaults)
}

type kw struct {
	text string
	det  int
}

func compile(list []Detector) *detectors {
	d := &detectors{list: list, kws: map[uint16][]kw{}}
	for i, det := range list {
		for _, k := range det.Keywords {
			if len(k) < 2 {
				d.short = append(d.short, kw{k, i})
				continue
			}
			bg := uint16(k[0]) | uint16(k[1])<<8
			d.bigram[bg>>6] |= 1 << (bg & 63)
			d.kws[bg] = append(d.kws[bg], kw{k, i})
		}
	}
	return d
}

// triggered returns a bitmask-like list of the detectors whose keywords
// occur in s (nil when none do). It is one pass over s.
func (d *detectors) triggered(s string, hit []bool) []bool {
	if d == nil || len(d.list) == 0 {
		return hit
	}
	for _, k := range d.short {
		if strings.Contains(s, k.text) {
			hit = mark(hit, len(d.list), k.det)
		}
	}
	for i := 0; i+1 < len(s); i++ {
		bg := uint16(s[i]) | uint16(s[i+1])<<8
		if d.bigram[bg>>6]&(1<<(bg&63)) == 0 {
			continue
		}
		for _, k := range d.kws[bg] {
			if (hit == nil || !hit[k.det]) && strings.HasPrefix(s[i:], k.text) {
				hit = mark(hit, len(d.list), k.det)
			}
		}
	}
	return hit
}

func mark(hit []bool, n, i int) []bool {
	if hit == nil {
		hit = make([]bool, n)
	}
	hit[i] = true
	return hit
}

// find appends the spans the triggered detectors match in s.
func (d *detectors) find(s string, hit []bool, out []span) []span {
	for i, on := range hit {
		if !on {
			continue
		}
		det := d.list[i]
		for _, m := range det.Pattern.FindAllStringSubmatchIndex(s, -1) {
			g := det.Group
			if 2*g+1 >= len(m) || m[2*g] < 0 {
				continue
			}
			out = append(out, span{m[2*g], m[2*g+1], det.Name})
		}
	}
	return out
}
