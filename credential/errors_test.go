package credential_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
)

func TestErrorMatchesItsKind(t *testing.T) {
	cause := errors.New("backend said no")
	err := fmt.Errorf("loading: %w", &credential.Error{Op: "fetch", Name: "openai", Ref: "prod/openai", Kind: credential.ErrPermission, Reason: "access denied by policy", Err: cause})
	assert.True(t, errors.Is(err, credential.ErrPermission))
	assert.False(t, errors.Is(err, credential.ErrNotFound))
	assert.True(t, errors.Is(err, cause))
	var ce *credential.Error
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, "openai", ce.Name)
	assert.Equal(t, "loading: credential openai: fetch prod/openai: permission denied: access denied by policy: backend said no", err.Error())
	assert.Equal(t, credential.ErrPermission, credential.Kind(err))
	assert.Equal(t, "permission", credential.KindName(err))
}

func TestKindOfContextErrors(t *testing.T) {
	err := credential.NewError("fetch", credential.ErrUnavailable, "x", "", context.Canceled)
	assert.True(t, errors.Is(err, context.Canceled), "a context cause stays visible")
	assert.Equal(t, "unavailable", credential.KindName(err))
	assert.Equal(t, "canceled", credential.KindName(fmt.Errorf("w: %w", context.Canceled)))
	assert.Equal(t, "deadline", credential.KindName(context.DeadlineExceeded))
	assert.Equal(t, "unknown", credential.KindName(errors.New("x")))
	assert.Equal(t, "", credential.KindName(nil))
	for _, s := range []error{credential.ErrNotFound, credential.ErrPermission, credential.ErrUnavailable, credential.ErrInvalid, credential.ErrExpired, credential.ErrRevoked, credential.ErrClosed} {
		assert.Equal(t, s, credential.Kind(fmt.Errorf("x: %w", s)))
		assert.NotEqual(t, "unknown", credential.KindName(s))
	}
}

func TestSafeRef(t *testing.T) {
	cases := map[string]string{
		"prod/openai": "prod/openai",
		"aws-sm://prod/openai#api_key?region=eu-west-1":     "aws-sm://prod/openai#api_key?region=eu-west-1",
		"https://user:hunter2hunter2@vault.example/v1/x":    "https://***",
		"https://api.example/v1?key=AIzaFAKEFAKEFAKE&x=1":   "https://api.example/v1?key=_&x=_",
		"vault://secret/data/openai?token=hvs.FAKEFAKE#f":   "vault://secret/data/openai?token=_#f",
		"file:///run/secrets/openai":                        "file:///run/secrets/openai",
		"postgres://app:FAKEpassw0rd@db:5432/app?sslmode=1": "postgres://***",
	}
	for in, want := range cases {
		assert.Equal(t, want, credential.SafeRef(in), in)
	}
}

// safeRefPassword is spelled so that no 4 of its bytes occur in a URL
// skeleton, and holds every character that ends a URL part early.
const safeRefPassword = "pQ/zX@wV#kJ?yZ&qW=rT%2FmN:bH;Lv"

// Every shape of a URL holding a password — well formed or not, in the user
// info, in a setting, percent-encoded, as a setting's name — is printed
// without any 4 bytes of it.
func TestSafeRefDropsEveryPartOfAPassword(t *testing.T) {
	pw := safeRefPassword
	esc := url.QueryEscape(pw)
	pathEsc := url.PathEscape(pw)
	urls := []string{
		"https://admin:" + pw + "@vault.example/v1/x",
		"https://admin:" + pw + "@vault.example",
		"https://" + pw + "@vault.example/v1/x",
		"https://admin:" + pw + "@vault.example/v1/x?token=" + esc,
		"aws-sm://admin:" + pw + "@/prod/openai#api_key?region=eu-west-1",
		"aws-sm://prod/openai?endpoint=http://admin:" + pw + "@localhost:4566",
		"aws-sm://prod/openai?endpoint=" + url.QueryEscape("http://admin:"+pw+"@localhost:4566"),
		"aws-sm://prod/openai?endpoint=http://localhost:4566/?token=" + esc,
		"aws-sm://prod/openai?region=" + esc,
		"aws-sm://prod/openai?region=" + pw,
		"aws-sm://prod/openai?stage=" + pathEsc,
		"aws-sm://prod/openai?" + esc + "=1",
		"aws-sm://prod/openai?" + pw,
		"aws-sm://prod/openai#" + pw,
		"env://KEY#access_token=" + esc + "&x=1",
		"vault://secret/data/openai?token=" + pw + "#api_key",
		"postgres://app:" + pw + "@db:5432/app?sslmode=disable",
		"postgres://app:" + pathEsc + "@db:5432/app",
		"1abc://user:" + pw + "@x",
		"://user:" + pw + "@x",
		"https://user:" + pw,
		"https:/user:" + pw + "@host/",
		"prod/openai?endpoint=http://admin:" + pw + "@host",
		"prod/openai?token=" + pw,
		"file:///run/secrets/openai?root=" + esc,
		"https://user:p://" + pw + "@host/x",
		"https://user:" + pw + "@host/a@b#c@d?e@f",
	}
	for _, raw := range urls {
		for _, out := range []string{
			credential.SafeRef(raw),
			(&credential.Error{Op: "open", Ref: raw, Kind: credential.ErrInvalid, Reason: "malformed URL"}).Error(),
		} {
			for _, secret := range []string{pw, esc, pathEsc} {
				for i := 0; i+4 <= len(secret); i++ {
					if strings.Contains(out, secret[i:i+4]) {
						// Printed through the masking of the test, not as is.
						t.Errorf("URL %d: 4 bytes of the password at offset %d in %q", indexOfURL(urls, raw), i, strings.ReplaceAll(out, secret[i:i+4], "####"))
					}
				}
			}
		}
	}
	// What is harmless is still printed, so errors stay useful.
	assert.Equal(t, "aws-sm://prod/openai#api_key?region=eu-west-1&stage=AWSPREVIOUS&endpoint=http://localhost:4566/v1",
		credential.SafeRef("aws-sm://prod/openai#api_key?region=eu-west-1&stage=AWSPREVIOUS&endpoint=http://localhost:4566/v1"))
	assert.Equal(t, "file:///srv/keys/openai?root=/srv/keys&allow_group_readable=true",
		credential.SafeRef("file:///srv/keys/openai?root=/srv/keys&allow_group_readable=true"))
}

func indexOfURL(urls []string, u string) int {
	for i, x := range urls {
		if x == u {
			return i
		}
	}
	return -1
}

func TestMetadataValidate(t *testing.T) {
	good := credential.Metadata{Name: "openai", Owner: "ml-team", Purpose: "support bot chat", Environment: "production", System: "api.openai.com", Scopes: []string{"model.request"}, RotationPeriod: 90 * 24 * time.Hour}
	assert.NoError(t, good.Validate())

	err := credential.Metadata{Name: "legacy", Scopes: []string{"model.request", "Admin", "*"}, RotationPeriod: 2 * credential.MaxRotationPeriod}.Validate()
	require.Error(t, err)
	assert.True(t, errors.Is(err, credential.ErrInvalid))
	var me *credential.MetadataError
	require.True(t, errors.As(err, &me))
	assert.Equal(t, []string{"no owner", "no purpose", "no environment", "no system", `broad scope "Admin"`, `broad scope "*"`, "rotation period over a year"}, me.Problems)
	assert.Contains(t, err.Error(), "credential legacy: invalid metadata: no owner")

	err = credential.Metadata{Owner: "a", Purpose: "b", Environment: "c", System: "d"}.Validate()
	require.True(t, errors.As(err, &me))
	assert.Equal(t, []string{"no rotation period"}, me.Problems)
}

func TestMetadataJSONAndMerge(t *testing.T) {
	m := credential.Metadata{Name: "openai", Owner: "ml", RotationPeriod: 720 * time.Hour, Tags: map[string]string{"a": "1"}}
	b, err := m.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"openai","owner":"ml","rotation_period":"720h0m0s","tags":{"a":"1"}}`, string(b))
	var back credential.Metadata
	require.NoError(t, back.UnmarshalJSON(b))
	assert.Equal(t, m, back)
	require.Error(t, back.UnmarshalJSON([]byte(`{"rotation_period":"soon"}`)))

	merged := m.Merge(credential.Metadata{Owner: "other", Purpose: "chat", Environment: "production", Tags: map[string]string{"a": "2", "b": "3"}})
	assert.Equal(t, "ml", merged.Owner, "configured fields win")
	assert.Equal(t, "chat", merged.Purpose)
	assert.Equal(t, map[string]string{"a": "1", "b": "3"}, merged.Tags)
	assert.False(t, merged.ShortLived)
	assert.True(t, m.Merge(credential.Metadata{ShortLived: true}).ShortLived, "a backend that mints marks the credential short-lived")
}

// Issue 17: a minted token has no rotation period of its own (it is
// replaced ahead of its expiry), so Validate does not flag one missing; it
// still flags a negative or over-long one, and the other findings.
func TestMetadataValidateShortLived(t *testing.T) {
	tok := credential.Metadata{Owner: "a", Purpose: "b", Environment: "c", System: "d", ShortLived: true}
	assert.NoError(t, tok.Validate())
	var me *credential.MetadataError
	tok.Owner = ""
	require.True(t, errors.As(tok.Validate(), &me))
	assert.Equal(t, []string{"no owner"}, me.Problems)
	tok.Owner, tok.RotationPeriod = "a", -time.Hour
	require.True(t, errors.As(tok.Validate(), &me))
	assert.Equal(t, []string{"negative rotation period"}, me.Problems)

	b, err := credential.Metadata{Name: "t", ShortLived: true}.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"t","short_lived":true}`, string(b))
	var back credential.Metadata
	require.NoError(t, back.UnmarshalJSON(b))
	assert.True(t, back.ShortLived)
}

func TestStatic(t *testing.T) {
	c := credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{Owner: "ml"})
	assert.Equal(t, "openai", c.Name())
	assert.Equal(t, "openai", c.Metadata().Name)
	s, err := c.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, s.Reveal() == oldKey, "value mismatch")
	c.Set(credential.NewSecret(newKey))
	s, _ = c.Get(context.Background())
	assert.True(t, s.Reveal() == newKey, "Set must take effect at once")
	assert.True(t, credential.Version{Expires: time.Unix(10, 0)}.Expired(time.Unix(10, 0)))
	assert.False(t, credential.Version{}.Expired(time.Now()))
}

func BenchmarkSecret(b *testing.B) {
	s := credential.NewSecret(oldKey)
	b.Run("Sprintf-v", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = fmt.Sprintf("%v", s)
		}
	})
	b.Run("Sprintf-v-string", func(b *testing.B) {
		v := oldKey
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = fmt.Sprintf("%v", v)
		}
	})
	b.Run("Fingerprint", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = s.Fingerprint()
		}
	})
	b.Run("Equal", func(b *testing.B) {
		t := credential.NewSecret(oldKey)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = s.Equal(t)
		}
	})
}
