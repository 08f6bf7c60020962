package redact

import (
	"slices"
	"strings"
)

// Names that say a secret follows: attribute keys in the Handler, and the
// name before "=" or ":" in text ("AWS_SECRET_ACCESS_KEY=", `"api_key":`,
// "AccessToken:", "X-API-Key:").
//
// A name is split into lowercase words at "_", "-", ".", " " and at
// camelCase boundaries ("openaiApiKey" is openai api key, "APIKey" is api
// key). It names a secret when its last word is one of secretWords, or its
// last two words one of secretPairs, or the whole name one of secretNames;
// and it is not one of the counting or paging names ("max_tokens",
// "token_count", "tokens_used", "next_page_token") that share the words.

var secretWords = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "passphrase": true, "passcode": true,
	"secret": true, "token": true, "apikey": true, "authorization": true, "cookie": true,
	"credential": true, "credentials": true, "signature": true, "dsn": true,
	"accesskey": true, "secretkey": true, "privatekey": true, "accountkey": true,
	"clientsecret": true, "accesstoken": true, "refreshtoken": true, "authtoken": true,
	"sessiontoken": true, "bearertoken": true, "idtoken": true, "privatetoken": true,
	"connectionstring": true, "connstr": true, "sas": true, "setcookie": true,
}

// secretPairs are the last two words, joined by a space.
var secretPairs = map[string]bool{
	"api key": true, "access key": true, "secret key": true, "private key": true,
	"account key": true, "auth key": true, "master key": true, "signing key": true,
	"encryption key": true, "session key": true, "client key": true, "app key": true,
	"subscription key": true, "license key": true, "shared key": true, "storage key": true,
	"connection string": true, "database url": true, "db url": true, "conn str": true,
	"webhook url": true, "auth header": true,
}

// secretNames are whole names that are sensitive on their own only.
var secretNames = map[string]bool{"auth": true, "apikey": true, "pass": true}

// notSecret are words before "token" that make it a count or a cursor.
var notSecret = map[string]bool{
	"next": true, "page": true, "continuation": true, "pagination": true, "sync": true,
	"cancel": true, "cancellation": true, "idempotency": true, "request": true, "max": true,
	"total": true, "prompt": true, "completion": true, "input": true, "output": true,
	"num": true, "count": true, "reasoning": true, "cached": true, "start": true, "end": true,
	"type": true,
}

// sensitiveName reports whether name (up to 128 bytes) names a secret. It
// does not allocate.
func sensitiveName(name string) bool {
	if len(name) == 0 || len(name) > 128 || !mayBeSensitive(name) {
		return false // most names: their last two letters end no secret word
	}
	// buf holds the lowercase words separated by one space; starts[k] is
	// where word k begins.
	var buf [256]byte
	var starts [64]int
	nw, n := 0, 0
	inWord := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		lower := c >= 'a' && c <= 'z'
		upper := c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		if !lower && !upper && !digit {
			inWord = false
			continue
		}
		// A capital starts a word after a lowercase letter or digit
		// ("apiKey"), or before a lowercase letter after capitals ("APIKey").
		split := false
		if upper && i > 0 {
			p := name[i-1]
			if p >= 'a' && p <= 'z' || p >= '0' && p <= '9' {
				split = true
			} else if p >= 'A' && p <= 'Z' && i+1 < len(name) && name[i+1] >= 'a' && name[i+1] <= 'z' {
				split = true
			}
		}
		if !inWord || split {
			if nw > 0 {
				buf[n] = ' '
				n++
			}
			starts[nw] = n
			nw++
			inWord = true
		}
		if upper {
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	if nw == 0 {
		return false
	}
	last := buf[starts[nw-1]:n]
	if nw == 1 && secretNames[string(last)] {
		return true
	}
	if nw >= 2 {
		if secretPairs[string(buf[starts[nw-2]:n])] {
			return true
		}
		prev := buf[starts[nw-2] : starts[nw-1]-1]
		if string(last) == "token" && notSecret[string(prev)] {
			return false
		}
		if string(last) == "key" {
			return false
		}
	}
	return secretWords[string(last)]
}

// endings holds the last two letters (lowercase) of every word that can end
// a sensitive name, so that most names are rejected by one table lookup
// before they are split into words. Names whose last two letters pass are
// then held to the last four (version is not authorization, lang not
// connection string) unless a word of fewer than four letters ends in
// those two (key, pwd, dsn, sig): see mayEnd.
var endings, shortEnd, endings4 = func() (*[36 * 36]bool, *[36 * 36]bool, *[36 * 36][]uint32) {
	var t, short [36 * 36]bool
	var four [36 * 36][]uint32
	add := func(w string) {
		if i := strings.LastIndexByte(w, ' '); i >= 0 {
			w = w[i+1:] // a pair: its last word ends the name
		}
		if len(w) < 2 {
			return
		}
		k := alnumIdx(w[len(w)-2])*36 + alnumIdx(w[len(w)-1])
		t[k] = true
		if len(w) < 4 {
			short[k] = true
			return
		}
		f := fold4(w[len(w)-4:])
		if !slices.Contains(four[k], f) {
			four[k] = append(four[k], f)
		}
	}
	for w := range secretWords {
		add(w)
	}
	for p := range secretPairs {
		add(p)
	}
	for w := range secretNames {
		add(w)
	}
	for _, w := range []string{"key", "sig", "code", "auth", "pass", "client_secret", "x-amz-credential", "x-goog-credential"} {
		add(w) // queryName's
	}
	return &t, &short, &four
}()

// fold4 packs four bytes, ASCII letters lowercased, into a word.
func fold4(s string) uint32 {
	var v uint32
	for i := 0; i < 4; i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		v = v<<8 | uint32(c)
	}
	return v
}

// mayEnd reports whether a sensitive name (or a queryName) can end at the
// end of s, whose last two bytes are letters or digits: false means none
// can.
func mayEnd(s string) bool {
	n := len(s)
	if n < 2 {
		return false
	}
	k := alnumIdx(s[n-2])*36 + alnumIdx(s[n-1])
	if !endings[k] {
		return false
	}
	if shortEnd[k] {
		return true
	}
	if n < 4 {
		return false
	}
	return slices.Contains(endings4[k], fold4(s[n-4:]))
}

// alnum36 is alnumIdx as a table.
var alnum36 = func() (t [256]uint8) {
	for c := range t {
		t[c] = uint8(alnumIdx(byte(c)))
	}
	return t
}()

// assignMay is the scan's quick test at a '=' or ':' (the "key" detector's
// lone keywords): assignName's walk back over spaces and a quote, then the
// first lookup of mayEnd. False means assignName would find no name there;
// true is checked in full when the detector runs. Its two halves inline
// where the scan loop calls them.
func assignMay(s string, p int) bool { return mayEndAt(s, nameEnd(s, p)) }

// nameEnd is where a name may end before the separator at p: back over up
// to four spaces, then a closing quote and the backslashes escaping it.
func nameEnd(s string, p int) int {
	j := p
	for j > 0 && p-j < 4 && s[j-1] == ' ' {
		j--
	}
	if j > 0 && quoteEnd[s[j-1]] {
		j--
		for j > 0 && s[j-1] == '\\' {
			j--
		}
	}
	return j
}

// mayEndAt is mayEnd's first lookup for a name ending at j: false when
// no sensitive name ends in the two bytes before j.
func mayEndAt(s string, j int) bool {
	return j >= 2 && endings[int(alnum36[s[j-2]])*36+int(alnum36[s[j-1]])]
}

// quoteEnd marks the quotes that may close a name before its separator.
var quoteEnd = [256]bool{'"': true, '\'': true}

// alnumIdx maps [0-9a-zA-Z] to 0..35, case folded; anything else to 0.
func alnumIdx(c byte) int {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= '0' && c <= '9':
		return int(c - '0')
	}
	return 0
}

// mayBeSensitive is a quick filter for sensitiveName and queryName: false
// means neither can hold.
func mayBeSensitive(name string) bool {
	n := len(name)
	for n > 0 && !alnum[name[n-1]] {
		n--
	}
	return mayEnd(name[:n])
}
