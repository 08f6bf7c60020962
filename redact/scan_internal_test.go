package redact

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/credkit/credkit/credential"
)

// scanPieces are what the differential texts are made of: benign text of
// every kind, unregistered tokens, and a registered value in its encodings.
func scanPieces(known string) []string {
	return []string{
		"You are a support assistant for an online store. ",
		"Summarize the customer's ticket below in three bullet points. ",
		"See https://docs.example.com/guide/install?version=2&lang=en#setup and ",
		"https://github.com/org/repo/blob/main/README.md, ",
		`{"id":"chatcmpl-9xFAKE","model":"gpt-4o-mini","usage":{"prompt_tokens":512}}`,
		"func (s *Server) handle(w http.ResponseWriter, r *http.Request) {\n\ttoken := r.Header.Get(\"Authorization\")\n",
		"x := a == b && c != d || e <= f; y := fmt.Sprintf(\"%s=%d\", key, val)\n",
		"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg== ",
		"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 ",
		"OPENAI_API_KEY=sk-proj-FAKEa1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ0123456789abcdEFGH ",
		"aws_access_key_id=AKIAFAKE0000EXAMPLE1 aws_secret_access_key=FAKEwJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEK ",
		"Authorization: Bearer FAKEeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.FAKEsigFAKEsigFAKEsig ",
		"postgres://app:FAKEpassw0rdFAKE@db.internal:5432/app?sslmode=require ",
		`"api_key": "FAKEcohereFAKEcohereFAKEcohere0123456789", `,
		"ghp_FAKE0123456789abcdefghijklmnopqrstuv ",
		"-----BEGIN RSA PRIVATE KEY-----\nMIIFAKEFAKEFAKE\n-----END RSA PRIVATE KEY-----\n",
		"key=" + known + " ",
		base64.StdEncoding.EncodeToString([]byte(known)) + " ",
		hex.EncodeToString([]byte("pre"+known)) + " ",
		url.QueryEscape("a b/"+known+"&") + " ",
		`"` + strings.ReplaceAll(known, "a", `\u0061`) + `" `,
		known[3:24] + " ",
		"token_count=12 max_tokens=300 next_page_token=abc ",
	}
}

// TestClassifiedScanMatchesShortScan checks the classified scan
// (classify.go: the path every text of indexFrom bytes or more takes, and
// of classifyFrom bytes or more with AVX2) against the byte-at-a-time
// scan, on random compositions, short and long: both must redact exactly
// the same bytes.
func TestClassifiedScanMatchesShortScan(t *testing.T) {
	const known = "sk-ant-api03-FAKEqWeRtYuIoPaSdFgHjKlZxCvBnM0123456789-_abcdefFAKE"
	rng := rand.New(rand.NewPCG(3, 4))
	// With a value under 16 bytes too, and one of bytes that are not
	// base64 (the runs of the mask are then more than base64 runs).
	for _, least := range []string{"", "FAKEshort9", "FAKE.p@ss:wörd!"} {
		r := New()
		if err := r.Add("k", credential.NewSecret(known)); err != nil {
			t.Fatal(err)
		}
		if least != "" {
			if err := r.Add("s", credential.NewSecret(least)); err != nil {
				t.Fatal(err)
			}
		}
		sn := r.snap.Load()
		pieces := append(scanPieces(known), least+" ")
		for round := 0; round < 400; round++ {
			var b strings.Builder
			size := indexFrom + rng.IntN(3000)
			if round%2 == 0 {
				size = 1 + rng.IntN(indexFrom) // short texts are classified too
			}
			for b.Len() < size {
				p := pieces[rng.IntN(len(pieces))]
				if rng.IntN(4) == 0 { // cut a piece: edges in odd places
					p = p[rng.IntN(len(p)):]
				}
				b.WriteString(p)
			}
			s := b.String()
			if d := scansDiffer(r, sn, s); d != "" {
				t.Fatalf("round %d: %s", round, d)
			}
			if got, want := len(sn.scanClassified(s, nil, true)) > 0, len(sn.scanShort(s, nil, true)) > 0; got != want {
				t.Fatalf("round %d: Contains: classified %v, short %v", round, got, want)
			}
		}
	}
}

// scansDiffer says where the classified scan and the byte-at-a-time scan
// redact s differently, "" when they agree: offsets and lengths only, the
// texts hold (fake) secrets.
func scansDiffer(r *Redactor, sn *snapshot, s string) string {
	long := r.apply(s, merge(sn.scanClassified(s, nil, false)))
	short := r.apply(s, merge(sn.scanShort(s, nil, false)))
	if long == short {
		return ""
	}
	i := 0
	for i < len(long) && i < len(short) && long[i] == short[i] {
		i++
	}
	return fmt.Sprintf("on a %d-byte text the classified scan (%d bytes out) and the short scan (%d bytes out) differ from byte %d", len(s), len(long), len(short), i)
}

// FuzzClassifiedScan hunts for a text on which the classified scan and
// the byte-at-a-time scan disagree: the fuzzer's text as it is, and grown
// past indexFrom by repeating it, with a known value registered.
func FuzzClassifiedScan(f *testing.F) {
	const known = "sk-ant-api03-FAKEqWeRtYuIoPaSdFgHjKlZxCvBnM0123456789-_abcdefFAKE"
	for _, p := range scanPieces(known) {
		f.Add(p, uint8(0))
	}
	f.Add("token := r.Header.Get(\"x\") https://u:FAKEpw@h/ a=b", uint8(3))
	r := New()
	if err := r.Add("k", credential.NewSecret(known)); err != nil {
		f.Fatal(err)
	}
	if err := r.Add("s", credential.NewSecret("FAKEshort9")); err != nil {
		f.Fatal(err)
	}
	sn := r.snap.Load()
	f.Fuzz(func(t *testing.T, text string, cut uint8) {
		if text == "" {
			return
		}
		// The text itself, and grown past indexFrom by repeating it.
		s := text
		for len(s) < indexFrom {
			s += text
		}
		for _, s := range []string{text[int(cut)%len(text):], s[int(cut)%len(text):]} {
			if d := scansDiffer(r, sn, s); d != "" {
				t.Fatal(d)
			}
		}
	})
}
