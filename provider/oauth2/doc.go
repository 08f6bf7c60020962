// Package oauth2 makes short-lived OAuth 2.0 access tokens credkit
// credentials: tokens minted on demand by a grant, refreshed ahead of their
// expiry by rotate, and covered by redact, health and the inventory like
// every other key. A stolen token is worth minutes, not months.
//
// A [Provider] mints one kind of token. Each Fetch runs the grant and
// returns the token as a credential.Version whose Expires is the token's
// expiry, so rotate.Watch (or a rotate.Set) refreshes it at 80% of its life
// and never serves it expired:
//
//	p, _ := oauth2.ClientCredentials(oauth2.Config{
//		TokenURL: "https://login.example.com/oauth2/token",
//		ClientID: "svc-rag", ClientSecret: oauth2.NewFile("/run/secrets/rag-client"),
//		Scopes:   []string{"embed.read"},
//	})
//	tok, _ := rotate.Watch(ctx, "vector-db", p, "", rotate.WithInterval(time.Hour, 0.1))
//	client := &http.Client{Transport: &credential.Transport{Credential: tok}}
//
// # Grants
//
//   - [ClientCredentials]: RFC 6749 client credentials.
//   - [TokenExchange]: RFC 8693 token exchange of a subject token.
//   - [JWTBearer]: RFC 7523 JWT bearer grant with an assertion.
//   - [FromTokenSource]: any golang.org/x/oauth2 TokenSource (Google's,
//     Microsoft's, a refresh-token source).
//
// Form-encoded requests go through golang.org/x/oauth2/clientcredentials
// (with the grant type overridden for the exchanges); Config.JSON sends a
// JSON object instead, as OpenAI's and Anthropic's endpoints take.
//
// # Subject tokens
//
// The token a grant presents is read from a [Source] at every grant:
//
//   - [File]: a file that is itself rotated, such as a Kubernetes projected
//     service-account token; it is re-read when it changes (the kubelet's
//     "..data" swap included).
//   - [GCPIdentity]: an ID token for an audience from GCP's metadata server
//     (GCE, GKE Workload Identity, Cloud Run), with Metadata-Flavor: Google.
//   - [AzureManagedIdentity]: a managed-identity token from Azure IMDS,
//     with Metadata: true.
//   - [FromProvider]: any credkit provider (a file, an environment
//     variable, a secret manager), for client secrets too.
//
// # OpenAI and Anthropic
//
// Both model providers' federation flows are configurations of these
// grants, with the endpoints, parameters and headers their Go SDKs send
// (openai-go v3, anthropic-sdk-go v2):
//
// OpenAI workload identity federation, [OpenAIConfig] with [TokenExchange]:
// POST https://auth.openai.com/oauth/token, a JSON body with grant_type
// urn:ietf:params:oauth:grant-type:token-exchange, subject_token,
// subject_token_type (…:jwt for Kubernetes and Azure tokens, …:id_token for
// a GCP ID token), identity_provider_id and service_account_id (client_id
// when set). The SDK asks GCP for the audience https://api.openai.com/v1
// ([OpenAIAudience]) and Azure for https://management.azure.com/
// ([OpenAIAzureResource]). Tokens live 60 minutes and go in
// "Authorization: Bearer" ([credential.Bearer], Transport's default).
//
// Anthropic OIDC federation, [AnthropicConfig] with [JWTBearer]: POST
// https://api.anthropic.com/v1/oauth/token with "anthropic-beta:
// oauth-2025-04-20,oidc-federation-2026-04-01", a JSON body with grant_type
// urn:ietf:params:oauth:grant-type:jwt-bearer, assertion,
// federation_rule_id, organization_id and optionally service_account_id and
// workspace_id. The workspace-scoped token goes in "Authorization: Bearer"
// with "anthropic-beta: oauth-2025-04-20" on every API request
// ([AnthropicInjector]).
//
// # URLs
//
// [Opener] opens oauth2:// URLs on a provider.URLMux, registered
// explicitly:
//
//	mux := provider.NewURLMux()
//	mux.Register("oauth2", oauth2.NewOpener(mux))
//	oauth2://auth.openai.com/oauth/token?grant=token_exchange&preset=openai&subject=file:///var/run/secrets/openai/token&param.identity_provider_id=idp_123&param.service_account_id=svc_456
//
// Client secrets and subject tokens are never in the URL: they come from
// files, metadata services or other credkit URLs.
//
// # With rotate
//
// Each Fetch mints a new token: refresh-ahead, not polling, should decide
// when. Watch a minted credential with a polling interval at least as long
// as its tokens live (rotate.WithInterval(time.Hour, 0.1) for hour-long
// tokens). rotate refreshes at 80% of a token's life or a minute before it
// expires, whichever is first, but never before half its life: a 60 s
// token is refreshed at 30 s by default, at 48 s with
// rotate.WithRefreshAhead(0.8, 10*time.Second). Concurrent Fetch calls
// share one request; a 401 answered to credential.Transport refreshes the
// token once.
//
// # Errors
//
// A refused grant (400 invalid_grant, invalid_client, 401, 403) is
// credential.ErrPermission and is not retried by the Provider: the caller
// backs off. 5xx, 429 and network failures are credential.ErrUnavailable;
// malformed requests and redirects credential.ErrInvalid. An error names
// the HTTP status and the RFC 6749 error code, never the endpoint's body or
// description (a server may echo the assertion back), the token, the
// client secret or the subject token. Token requests never follow
// redirects.
//
// # Inventory
//
// [Provider.Describe] reports that the credential is short-lived
// (credential.Metadata.ShortLived), its issuer (credential.Description.Issuer:
// the token endpoint) and its subject where known (Description.Subject: the
// client id, or the "sub" claim of the subject token), its grant in
// Metadata.Tags ([TagGrant]) and the requested scopes in Metadata.Scopes. A
// rotate.Set's inventory row then shows short_lived, the token's TTL,
// issuer and subject; the token's expiry is the row's Expires but not a
// rotation due date, and no "no rotation period" finding is raised.
package oauth2
