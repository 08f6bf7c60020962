package oauth2_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider/oauth2"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

// A minted token in a rotate.Set: the inventory lists it as short-lived,
// with its TTL, issuer, subject, grant and expiry, no rotation due date
// and no "no rotation period" finding, and a redactor tracking the Set
// removes the token from log text; neither the inventory nor the status
// holds the token or the subject token.
func TestInventoryAndRedaction(t *testing.T) {
	fc := fakeclock.New(t0)
	fake := openAIFake(fc, time.Hour)
	defer fake.Close()
	path := filepath.Join(t.TempDir(), "token")
	subject := k8sToken("system:serviceaccount:ml:rag", openaiAud, t0.Add(2*time.Hour))
	writeToken(t, path, subject)
	mux := newMux(t, oauth2.WithProviderOptions(oauth2.WithClock(fc)))
	ctx := context.Background()
	set, err := rotate.Open(ctx, mux, []rotate.Config{{
		Name:     "openai",
		Metadata: credential.Metadata{Owner: "ml-team", Purpose: "support bot", Environment: "production", System: "api.openai.com"},
		URL:      "oauth2://" + hostPath(fake) + "?grant=token_exchange&preset=openai&subject=file://" + path + "&param.identity_provider_id=idp_FAKE123&param.service_account_id=svc_FAKE456",
	}}, rotate.WithClock(fc), rotate.WithInterval(time.Hour, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	inv := set.Inventory()
	it := inv.Credentials[0]
	if !it.ShortLived || it.TTL != time.Hour || it.Issuer != fake.TokenURL() || it.Subject != "system:serviceaccount:ml:rag" || it.Metadata.Tags[oauth2.TagGrant] != oauth2.GrantTokenExchange {
		t.Fatalf("inventory row: short_lived=%v ttl=%v issuer=%q subject=%q tags=%v", it.ShortLived, it.TTL, it.Issuer, it.Subject, it.Metadata.Tags)
	}
	if !it.RotationDue.IsZero() || it.DueSoon || len(it.Findings) != 0 {
		t.Fatalf("a token raises rotation noise: due=%v due_soon=%v findings=%v", it.RotationDue, it.DueSoon, it.Findings)
	}
	if !it.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("inventory Expires = %v, want the token's expiry %v", it.Expires, t0.Add(time.Hour))
	}
	tok, err := credOf(t, set, "openai").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(inv)
	if strings.Contains(string(b), tok.Reveal()) || strings.Contains(string(b), subject[:30]) {
		t.Fatal("the inventory holds the token or the subject token")
	}
	r := redact.New()
	stop := r.Track(set)
	defer stop()
	if out := r.String("calling the API with " + tok.Reveal()); strings.Contains(out, tok.Reveal()) {
		t.Fatalf("the redactor let the minted token through: %q", out)
	}
	t.Logf("inventory: %s", b)
}

// credOf returns the named credential of set, failing the test if it has
// none.
func credOf(t testing.TB, set *rotate.Set, name string) *rotate.Credential {
	t.Helper()
	c, err := set.Credential(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
