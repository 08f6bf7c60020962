package redact

import (
	"strings"
	"testing"
)

// The quick filters (mayBeSensitive, and the name test before '=' and ':')
// never turn away a name sensitiveName or queryName accepts: every secret
// word, pair and name, in every case style, after every prefix.
func TestNameFiltersKeepEverySensitiveName(t *testing.T) {
	var bases []string
	for w := range secretWords {
		bases = append(bases, w)
	}
	for p := range secretPairs {
		bases = append(bases, p)
	}
	for w := range secretNames {
		bases = append(bases, w)
	}
	bases = append(bases, "key", "sig", "code", "auth", "pass", "client_secret", "x-amz-credential", "x-goog-credential")
	styles := []func(string) string{
		func(s string) string { return strings.ReplaceAll(s, " ", "_") },
		func(s string) string { return strings.ToUpper(strings.ReplaceAll(s, " ", "_")) },
		func(s string) string { return strings.ReplaceAll(s, " ", "-") },
		func(s string) string { return strings.ReplaceAll(s, " ", ".") },
		func(s string) string { return strings.ReplaceAll(s, " ", "") },
		func(s string) string { // camelCase
			parts := strings.Fields(s)
			for i := 1; i < len(parts); i++ {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
			return strings.Join(parts, "")
		},
		func(s string) string { // PascalCase
			parts := strings.Fields(s)
			for i := range parts {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
			return strings.Join(parts, "")
		},
	}
	prefixes := []string{"", "x_", "my", "My", "OPENAI_", "openai", "db.", "X-", "aws_secret_", "client"}
	n := 0
	for _, b := range bases {
		for _, st := range styles {
			for _, p := range prefixes {
				name := p + st(b)
				if !sensitiveName(name) && !queryName(name) {
					continue
				}
				n++
				if !mayBeSensitive(name) {
					t.Errorf("mayBeSensitive(%q) = false, but the name is sensitive", name)
				}
				for _, sep := range []string{"=", ":", ": ", `":`, `" : `} {
					s := name + sep + "v"
					at := strings.IndexAny(s[len(name):], "=:") + len(name)
					if _, end := assignName(s, at); end < 0 {
						t.Errorf("assignName rejects %q, but the name is sensitive", s)
					}
				}
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d sensitive names tried", n)
	}
	// And the filter does turn away what it is for.
	for _, name := range []string{"version", "lang", "page", "model", "finish_reason", "limit"} {
		if mayBeSensitive(name) {
			t.Errorf("mayBeSensitive(%q) = true", name)
		}
	}
}
