package file

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
)

func TestParseDotenv(t *testing.T) {
	cases := []struct {
		name string
		text string
		want map[string]string
	}{
		{"plain", "OPENAI_API_KEY=sk-proj-FAKE000\n", map[string]string{"OPENAI_API_KEY": "sk-proj-FAKE000"}},
		{"no trailing newline", "A=1", map[string]string{"A": "1"}},
		{"crlf", "A=1\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}},
		{"bom", "\ufeffA=1\n", map[string]string{"A": "1"}},
		{"comments and blanks", "# the keys\n\n  # indented comment\nA=1\n\n", map[string]string{"A": "1"}},
		{"export", "export A=1\nexport\tB=2\n", map[string]string{"A": "1", "B": "2"}},
		{"spaces around equals", "A = 1\nB\t=\t2  \n", map[string]string{"A": "1", "B": "2"}},
		{"inline comment", "A=value # the comment\n", map[string]string{"A": "value"}},
		{"hash inside unquoted value", "A=pa#ss\n", map[string]string{"A": "pa#ss"}},
		{"empty value", "A=\nB=''\nC=\"\"\n", map[string]string{"A": "", "B": "", "C": ""}},
		{"single quotes literal", `A='x\ny $HOME "q"'` + "\n", map[string]string{"A": `x\ny $HOME "q"`}},
		{"double quote escapes", `A="line1\nline2\t\"q\" \\ \$HOME \x"` + "\n", map[string]string{"A": "line1\nline2\t\"q\" \\ $HOME \\x"}},
		{"double quotes keep hash", `A="abc # not a comment" # comment` + "\n", map[string]string{"A": "abc # not a comment"}},
		{"multi-line double quoted", "KEY=\"-----BEGIN PRIVATE KEY-----\nFAKEFAKE\n-----END PRIVATE KEY-----\"\nNEXT=1\n", map[string]string{"KEY": "-----BEGIN PRIVATE KEY-----\nFAKEFAKE\n-----END PRIVATE KEY-----", "NEXT": "1"}},
		{"multi-line single quoted", "KEY='a\nb'\nNEXT=2", map[string]string{"KEY": "a\nb", "NEXT": "2"}},
		{"equals in value", "DSN=postgres://u:FAKE@db/app?sslmode=require&x=y\n", map[string]string{"DSN": "postgres://u:FAKE@db/app?sslmode=require&x=y"}},
		{"later wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
		{"dotted and dashed keys", "app.key=1\nmy-key=2\n", map[string]string{"app.key": "1", "my-key": "2"}},
		{"json value single quoted", `SA='{"type":"service_account","private_key":"FAKE"}'`, map[string]string{"SA": `{"type":"service_account","private_key":"FAKE"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDotenv(tc.text)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseDotenvErrors(t *testing.T) {
	cases := map[string]string{
		"unterminated double": "A=1\nB=\"sk-FAKEunterminated\n",
		"unterminated single": "B='sk-FAKEunterminated",
		"no equals":           "JUSTAWORD\n",
		"no key":              "=value\n",
		"text after quote":    "A=\"x\" trailing\n",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseDotenv(text)
			require.Error(t, err)
			assert.True(t, errors.Is(err, credential.ErrInvalid))
			assert.Contains(t, err.Error(), "dotenv line")
			assert.NotContains(t, err.Error(), "FAKE", "errors never quote the file")
		})
	}
	_, err := ParseDotenv("A=1\nB=\"x\n")
	assert.Contains(t, err.Error(), "dotenv line 2")
}

// FuzzParseDotenv checks that the parser never panics and that its errors
// never quote the input.
func FuzzParseDotenv(f *testing.F) {
	f.Add("A=1\n")
	f.Add("export KEY=\"multi\nline\" # c\n")
	f.Add("K='x'\nJ=\"\\n\\t\\\"\"")
	f.Add("#only a comment")
	f.Fuzz(func(t *testing.T, text string) {
		vars, err := ParseDotenv(text)
		if err != nil {
			if !errors.Is(err, credential.ErrInvalid) {
				t.Fatalf("error of unexpected kind %v", credential.KindName(err))
			}
			return
		}
		for k := range vars {
			if k == "" {
				t.Fatal("empty key accepted")
			}
		}
	})
}
