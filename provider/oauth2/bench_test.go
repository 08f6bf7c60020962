package oauth2_test

import (
	"context"
	"testing"
	"time"

	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider/oauth2"
)

// Minting a token over loopback: credkit's Provider against the bare
// x/oauth2 clientcredentials request it wraps (form), and the JSON path.
func BenchmarkMint(b *testing.B) {
	ctx := context.Background()
	secret := credential.NewSecret(fakeSecret)
	b.Run("x-oauth2-clientcredentials", func(b *testing.B) {
		fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc", ClientSecret: fakeSecret})
		defer fake.Close()
		cc := clientcredentials.Config{ClientID: "svc", ClientSecret: fakeSecret, TokenURL: fake.TokenURL(), AuthStyle: xoauth2.AuthStyleInHeader}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cc.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("oauth2.ClientCredentials-form", func(b *testing.B) {
		fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc", ClientSecret: fakeSecret})
		defer fake.Close()
		p, _ := oauth2.ClientCredentials(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "svc", ClientSecret: oauth2.Static(secret)})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Fetch(ctx, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("oauth2.ClientCredentials-json", func(b *testing.B) {
		fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc", ClientSecret: fakeSecret, JSON: true})
		defer fake.Close()
		p, _ := oauth2.ClientCredentials(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "svc", ClientSecret: oauth2.Static(secret), JSON: true})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Fetch(ctx, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}
