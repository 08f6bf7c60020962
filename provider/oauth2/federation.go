package oauth2

import (
	"net/http"
	"strings"

	"github.com/credkit/credkit/credential"
)

// The endpoints and values of the model providers' federation flows, as
// openai-go v3 (auth/workloadidentity.go, auth/subjecttokenprovider.go) and
// anthropic-sdk-go v2 (config/federation.go, internal/auth/workload.go)
// send them.
const (
	// OpenAITokenURL is OpenAI's token exchange endpoint.
	OpenAITokenURL = "https://auth.openai.com/oauth/token"
	// OpenAIAudience is the audience openai-go asks GCP's metadata server
	// for when it federates an ID token.
	OpenAIAudience = "https://api.openai.com/v1"
	// OpenAIAzureResource is the resource openai-go asks Azure IMDS for.
	OpenAIAzureResource = "https://management.azure.com/"

	// AnthropicTokenURL is Anthropic's token endpoint (the API base URL and
	// /v1/oauth/token).
	AnthropicTokenURL = "https://api.anthropic.com/v1/oauth/token"
	// AnthropicOAuthBeta is the anthropic-beta value every request made
	// with an Anthropic OAuth token carries.
	AnthropicOAuthBeta = "oauth-2025-04-20"
	// AnthropicFederationBeta is the anthropic-beta value added on the
	// jwt-bearer exchange itself.
	AnthropicFederationBeta = "oidc-federation-2026-04-01"
)

// OpenAIConfig is the Config of OpenAI's workload identity federation: an
// RFC 8693 token exchange at [OpenAITokenURL], sent as JSON:
//
//	POST https://auth.openai.com/oauth/token
//	Content-Type: application/json
//	{"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
//	 "subject_token": "<JWT>", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
//	 "identity_provider_id": "...", "service_account_id": "..."}
//
// The answer is a bearer token for api.openai.com (60 minutes when it
// gives no expires_in, as is this package's default lifetime). Use
// it with [TokenExchange]; set ClientID when the federation was set up with
// one. The subject token type is the source's (a GCP ID token is
// TokenTypeIDToken, a Kubernetes or Azure token TokenTypeJWT).
func OpenAIConfig(identityProviderID, serviceAccountID string) Config {
	return Config{
		TokenURL: OpenAITokenURL,
		JSON:     true,
		Params: map[string]string{
			"identity_provider_id": identityProviderID,
			"service_account_id":   serviceAccountID,
		},
	}
}

// AnthropicFederation names an Anthropic OIDC federation rule and what it
// mints for.
type AnthropicFederation struct {
	// FederationRuleID ("fdrl_...") and OrganizationID are required.
	FederationRuleID string
	OrganizationID   string
	// ServiceAccountID ("svac_...") checks the target of a rule whose
	// target is a service account; optional.
	ServiceAccountID string
	// WorkspaceID ("wrkspc_..." or "default") picks the workspace the token
	// is scoped to; optional when the rule enables one workspace.
	WorkspaceID string
}

// AnthropicConfig is the Config of Anthropic's OIDC federation: an RFC 7523
// jwt-bearer grant at [AnthropicTokenURL], sent as JSON with the federation
// beta header:
//
//	POST https://api.anthropic.com/v1/oauth/token
//	Content-Type: application/json
//	anthropic-beta: oauth-2025-04-20,oidc-federation-2026-04-01
//	{"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "<JWT>",
//	 "federation_rule_id": "fdrl_...", "organization_id": "...",
//	 "service_account_id": "svac_...", "workspace_id": "wrkspc_..."}
//
// The answer is a workspace-scoped bearer token; no refresh token is
// issued, so the assertion is presented again when it is due. Use it with
// [JWTBearer], and send the token with [AnthropicInjector].
func AnthropicConfig(f AnthropicFederation) Config {
	params := map[string]string{
		"federation_rule_id": f.FederationRuleID,
		"organization_id":    f.OrganizationID,
	}
	if f.ServiceAccountID != "" {
		params["service_account_id"] = f.ServiceAccountID
	}
	if f.WorkspaceID != "" {
		params["workspace_id"] = f.WorkspaceID
	}
	return Config{
		TokenURL: AnthropicTokenURL,
		JSON:     true,
		Params:   params,
		Header:   http.Header{"Anthropic-Beta": {AnthropicOAuthBeta + "," + AnthropicFederationBeta}},
	}
}

// AnthropicInjector puts an Anthropic OAuth token into a request as the API
// expects: "Authorization: Bearer <token>" and [AnthropicOAuthBeta] added to
// the anthropic-beta header. Give it to credential.Transport:
//
//	&credential.Transport{Credential: c, Inject: oauth2.AnthropicInjector()}
func AnthropicInjector() credential.Injector {
	bearer := credential.Bearer()
	return func(r *http.Request, s credential.Secret) {
		bearer(r, s)
		r.Header.Del("X-Api-Key")
		switch existing := r.Header.Get("Anthropic-Beta"); {
		case existing == "":
			r.Header.Set("Anthropic-Beta", AnthropicOAuthBeta)
		case !strings.Contains(existing, AnthropicOAuthBeta):
			r.Header.Set("Anthropic-Beta", existing+","+AnthropicOAuthBeta)
		}
	}
}
