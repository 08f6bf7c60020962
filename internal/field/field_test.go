package field_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
)

func TestJSONErrorsNeverQuoteTheValue(t *testing.T) {
	const v = `{"api_key": "sk-FAKEfieldKEY0000", oops}`
	_, err := field.JSON([]byte(v), "api_key")
	if !errors.Is(err, credential.ErrInvalid) {
		t.Fatalf("malformed JSON: kind %s", credential.KindName(err))
	}
	if strings.Contains(err.Error(), "FAKE") || strings.Contains(err.Error(), "oops") {
		t.Fatal("the error quotes the input")
	}
	for in, kind := range map[string]error{
		`{"a":"x"}`:  credential.ErrNotFound,
		`{"k":{}}`:   credential.ErrInvalid,
		`{"k":null}`: credential.ErrInvalid,
		`[1,2]`:      credential.ErrInvalid,
	} {
		if _, err := field.JSON([]byte(in), "k"); !errors.Is(err, kind) {
			t.Errorf("%s: got kind %s", in, credential.KindName(err))
		}
	}
	for in, want := range map[string]string{`{"k":"v\u00e9"}`: "vé", `{"k":42}`: "42", `{"k":true}`: "true"} {
		if got, err := field.JSON([]byte(in), "k"); err != nil || got != want {
			t.Errorf("%s: got %q, %v", in, got, err)
		}
	}
}

func TestCheck(t *testing.T) {
	for in, ok := range map[string]bool{"x": true, " \n": false, "": false, strings.Repeat("k", 11): false, "\xff": false} {
		if err := field.Check(in, 10); (err == nil) != ok {
			t.Errorf("%q: err %v", in, err)
		}
	}
}

func ExampleSplit() {
	fmt.Println(field.Split("prod/openai#api_key"))
	fmt.Println(field.ContentID("sk-FAKE") == field.ContentID("sk-FAKE"))
	// Output:
	// prod/openai api_key
	// true
}

func TestValueRefusesNULAndLineBreaks(t *testing.T) {
	const k = "sk-FAKEfieldKEY0000"
	for in, want := range map[string]string{k: k, k + "\n": k, k + "\r\n": k} {
		got, err := field.Value(in, 0)
		if err != nil || got != want {
			t.Errorf("%q: kind %s", in, credential.KindName(err))
		}
	}
	for _, in := range []string{k + "\x00", "sk-\x00" + k, k + "\nX-Evil: 1", k + "\r", "sk-\r" + k, k + "\n\n", "\n" + k} {
		_, err := field.Value(in, 0)
		if !errors.Is(err, credential.ErrInvalid) {
			t.Errorf("%q: want ErrInvalid, got kind %s", in, credential.KindName(err))
			continue
		}
		if strings.Contains(err.Error(), "FAKE") {
			t.Error("the error quotes the value")
		}
	}
}

// The version ID of env and file secrets is keyed as fingerprints are, not
// a plain SHA-256 of the value.
func TestContentIDIsKeyed(t *testing.T) {
	const v = "sk-FAKEfieldKEY0000"
	sum := sha256.Sum256([]byte(v))
	if field.ContentID(v) == hex.EncodeToString(sum[:8]) {
		t.Fatal("rule: ContentID is keyed, not a plain SHA-256")
	}
	if field.ContentID(v) != credential.ContentID(v) {
		t.Fatal("ContentID is credential.ContentID")
	}
}
