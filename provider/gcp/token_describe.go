package gcp

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/credkit/credkit/credential"
)

// googleTokenURL is Google's OAuth 2.0 token endpoint, the issuer of the
// access tokens of service account keys and gcloud's user credentials.
const googleTokenURL = "https://oauth2.googleapis.com/token"

// metadataIssuer is the issuer reported for tokens of the metadata server
// (GCE, GKE, Cloud Run), where Application Default Credentials have no file.
const metadataIssuer = "http://metadata.google.internal"

// Describe reports the token as short-lived (Metadata.ShortLived), with
// the ref's scopes in Metadata.Scopes, and its issuer and subject from the
// Application Default Credentials it would mint with: for a service
// account key, the key's token_uri and client_email; for workload identity
// federation, the STS token_url and the impersonated service account (or
// none); for gcloud's user credentials, Google's token endpoint and no
// subject; on the metadata server, "http://metadata.google.internal" and
// no subject. It reads the ADC file (no network call) and never fails;
// with [WithTokenSource] it reports no issuer or subject. It never reports
// a key, a secret or a token.
func (p *TokenProvider) Describe(ctx context.Context, ref string) (credential.Description, error) {
	sc := scopes(ref)
	d := credential.Description{Metadata: credential.Metadata{ShortLived: true, Scopes: sc}}
	if p.custom {
		return d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	creds, err := google.FindDefaultCredentials(ctx, sc...)
	if err != nil {
		return d, nil
	}
	if len(creds.JSON) == 0 {
		d.Issuer = metadataIssuer
		return d, nil
	}
	d.Issuer, d.Subject = adcIdentity(creds.JSON)
	return d, nil
}

// adcIdentity reads the issuer and subject of an ADC file, keeping only
// identifiers (URLs of token endpoints, e-mail addresses of service
// accounts).
func adcIdentity(b []byte) (issuer, subject string) {
	var f struct {
		Type                           string `json:"type"`
		ClientEmail                    string `json:"client_email"`
		TokenURI                       string `json:"token_uri"`
		TokenURL                       string `json:"token_url"`
		ServiceAccountImpersonationURL string `json:"service_account_impersonation_url"`
	}
	if json.Unmarshal(b, &f) != nil {
		return "", ""
	}
	switch f.Type {
	case "service_account":
		issuer, subject = endpoint(f.TokenURI), f.ClientEmail
	case "external_account":
		issuer = endpoint(f.TokenURL)
		// .../projects/-/serviceAccounts/EMAIL:generateAccessToken
		if i := strings.LastIndex(f.ServiceAccountImpersonationURL, "/serviceAccounts/"); i >= 0 {
			subject, _, _ = strings.Cut(f.ServiceAccountImpersonationURL[i+len("/serviceAccounts/"):], ":")
		}
	case "impersonated_service_account":
		if i := strings.LastIndex(f.ServiceAccountImpersonationURL, "/serviceAccounts/"); i >= 0 {
			subject, _, _ = strings.Cut(f.ServiceAccountImpersonationURL[i+len("/serviceAccounts/"):], ":")
		}
		issuer = googleTokenURL
	case "authorized_user":
		issuer = googleTokenURL
	}
	if issuer == "" {
		issuer = googleTokenURL
	}
	if !strings.Contains(subject, "@") || len(subject) > 256 || strings.ContainsAny(subject, " /?#\x00\r\n") {
		subject = ""
	}
	return issuer, subject
}

// endpoint returns a token endpoint URL as scheme, host and path only, or
// "" when it is not an http(s) URL.
func endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + u.Path
}
