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
//
// The Pattern runs only on a window around each keyword found: from Before
// bytes ahead of the keyword to MaxLen bytes after it (defaults 1 and 512),
// so its cost does not grow with the length of the text, and patterns need
// no literal prefix to be fast. A Pattern that starts with a boundary
// (`(?:^|[^A-Za-z0-9_-])`) works with Before 1: ^ then only matches where
// the window starts, one byte ahead of the keyword.
type Detector struct {
	Name     string
	Keywords []string
	Pattern  *regexp.Regexp
	Group    int
	Before   int
	MaxLen   int
}

// b is a left word boundary for tokens that start with letters: the start
// of the text or a byte that cannot be part of a token.
const b = `(?:^|[^A-Za-z0-9_-])`

func det(name, re string, group int, keywords ...string) Detector {
	return Detector{Name: name, Keywords: keywords, Pattern: regexp.MustCompile(re), Group: group}
}

// around sets how far before its keyword a detector's match may start, and
// how long it may be.
func around(d Detector, before, maxLen int) Detector {
	d.Before, d.MaxLen = before, maxLen
	return d
}

// DefaultDetectors returns the built-in detectors, written from the vendors'
// documented key formats. Each call returns new values, which a caller may
// filter ([WithoutDetectors]) or extend ([WithDetectors]).
func DefaultDetectors() []Detector {
	list := []Detector{
		det("anthropic", b+`(sk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_-]{20,})`, 1, "sk-ant-"),
		det("openrouter", b+`(sk-or-v1-[A-Za-z0-9]{32,})`, 1, "sk-or-v1-"),
		det("openai", b+`(sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,})`, 1, "sk-"),
		around(det("openai", `[A-Za-z0-9_-]{8,}T3BlbkFJ[A-Za-z0-9_-]{8,}`, 0, "T3BlbkFJ"), 256, 512),
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
		det("aws", b+`((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z2-7]{16})\b`, 1,
			"AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA", "ASCA"),
		det("aws-bedrock", b+`(ABSK[A-Za-z0-9+/]{20,}={0,2})`, 1, "ABSK"),
		det("github", b+`((?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{36,})`, 1, "ghp_", "gho_", "ghs_", "ghu_", "ghr_"),
		det("github", b+`(github_pat_[A-Za-z0-9_]{22,})`, 1, "github_pat_"),
		det("slack", b+`(xox[baprs]-[A-Za-z0-9-]{10,})`, 1, "xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"),
		det("slack", b+`(xapp-\d-[A-Za-z0-9-]{10,})`, 1, "xapp-"),
		around(det("slack-webhook", `https://hooks\.slack\.com/services/[A-Za-z0-9_/-]+`, 0, "hooks.slack.com"), 8, 256),
		det("stripe", b+`((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,})`, 1, "sk_live_", "sk_test_", "rk_live_", "rk_test_"),
		det("jwt", b+`(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})`, 1, "eyJ"),
		around(det("private-key", `-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|\z)`, 0, "-----BEGIN"), 0, 32<<10),
		around(det("authorization", `(?i)authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest|apikey)?\s*([A-Za-z0-9._~+/=:-]{8,})`, 1,
			"uthorization", "UTHORIZATION"), 7, 1024),
		det("bearer", `(?:Bearer|bearer|BEARER)\s+([A-Za-z0-9._~+/-]{20,}=*)`, 1, "Bearer", "bearer", "BEARER"),
		around(det("api-key-header", `(?i)(?:x-api-key|api-key|x-goog-api-key|x-auth-token|apikey)["']?\s*[:=]\s*["']?([A-Za-z0-9._~+/-]{8,})`, 1,
			"pi-key", "PI-KEY", "pi-Key", "piKey", "pikey", "PIKEY", "uth-token", "uth-Token", "UTH-TOKEN"), 12, 1024),
		around(det("url-password", `[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@"'<>]*:([^\s/@"'<>]+)@`, 1, "://"), 32, 1024),
		// Keyed on "=", a byte rare in prose that a SIMD scan finds fast; the
		// window reaches back over the longest parameter name.
		det("query-secret", `(?i)[?&;](?:key|api_key|apikey|api-key|token|access_token|refresh_token|id_token|auth|password|passwd|pwd|secret|client_secret|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)=([^&#\s"'<>;]+)`, 1, "="),
	}
	list[len(list)-1] = around(list[len(list)-1], 24, 1024)
	return list
}

// detectors is the compiled form: a keyword pre-filter shared by every
// detector, then the detectors' own patterns.
type detectors struct {
	list []Detector
	// anchored holds, for detectors whose pattern starts with the token
	// boundary and whose match starts at most one byte before their keyword,
	// the pattern anchored at the window's start: a match is then tried at
	// one place, not at every offset of the window.
	anchored []*regexp.Regexp
	// tri marks a hash of the first three bytes of every keyword; kws
	// lists the keywords (with their detector) by those three bytes.
	bi    [1 << 16 / 64]uint64 // the first two bytes of every keyword
	tri   [1 << 16 / 64]uint64
	kws   map[uint32][]kw
	short []kw // keywords shorter than three bytes
}

type kw struct {
	text string
	det  int
}

func tri3(s string, i int) uint32 { return uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16 }

func triHash(t uint32) uint32 { return (t * 0x9E3779B1) >> 16 }

func compile(list []Detector) *detectors {
	d := &detectors{list: list, kws: map[uint32][]kw{}, anchored: make([]*regexp.Regexp, len(list))}
	for i, det := range list {
		if det.Before <= 1 && det.Pattern != nil && strings.HasPrefix(det.Pattern.String(), b) {
			if re, err := regexp.Compile(`^(?:` + det.Pattern.String() + `)`); err == nil {
				d.anchored[i] = re
			}
		}
		for _, k := range det.Keywords {
			if len(k) < 3 {
				d.short = append(d.short, kw{k, i})
				continue
			}
			t := tri3(k, 0)
			h := triHash(t)
			d.tri[h>>6] |= 1 << (h & 63)
			bg := t & 0xFFFF
			d.bi[bg>>6] |= 1 << (bg & 63)
			d.kws[t] = append(d.kws[t], kw{k, i})
		}
	}
	return d
}

// window runs detector di around a keyword at p.
func (d *detectors) window(s string, p, di int, covered []int, out []span) []span {
	det := &d.list[di]
	before, maxLen := det.Before, det.MaxLen
	if before == 0 && det.Group > 0 {
		before = 1
	}
	if maxLen == 0 {
		maxLen = 512
	}
	from, to := p-before, p+maxLen
	if from < 0 {
		from = 0
	}
	if to > len(s) {
		to = len(s)
	}
	covered[di] = p + 1
	var ms [][]int
	if re := d.anchored[di]; re != nil {
		if m := re.FindStringSubmatchIndex(s[from:to]); m != nil {
			ms = [][]int{m}
		}
	} else {
		ms = det.Pattern.FindAllStringSubmatchIndex(s[from:to], -1)
	}
	for _, m := range ms {
		g := det.Group
		if 2*g+1 >= len(m) || m[2*g] < 0 {
			continue
		}
		sp := span{from + m[2*g], from + m[2*g+1], det.Name, di}
		if sp.end > covered[di] {
			covered[di] = sp.end
		}
		out = append(out, sp)
	}
	return out
}
