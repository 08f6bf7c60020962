// Package azure is the credkit backend for Azure Key Vault secrets, on the
// Azure SDK for Go (azsecrets), with a vault-wide change check and push
// from Event Grid.
//
// # Refs and URLs
//
// A ref is a secret name, optionally with a version and a JSON field:
// "openai", "openai#api_key", "openai/0f5e3b1c9d8a4e7f8b6a5c4d3e2f1a0b". The
// URL form, for a provider.URLMux with [NewOpener] registered as
// "azure-kv":
//
//	azure-kv://my-vault/openai#api_key                 (https://my-vault.vault.azure.net)
//	azure-kv://my-vault/openai/0f5e3b1c9d8a4e7f8b6a5c4d3e2f1a0b
//	azure-kv://my-vault.vault.azure.cn/openai          (a sovereign cloud: the full host)
//
// The Opener authenticates with azidentity.DefaultAzureCredential unless
// given an azcore.TokenCredential ([WithCredential]), and keeps one client
// and one [Provider] per vault.
//
// # Versions, validity and disabling
//
// [Provider.Fetch] reads the latest version, or the one the ref pins.
// Key Vault's exp and nbf are validity bounds, and the provider enforces
// them (Key Vault itself still answers outside them): exp becomes
// Version.Expires, so rotate refreshes ahead of it and never serves it
// expired; a version whose nbf is ahead is not returned, and a watched
// credential keeps its current version until the nbf passes. A disabled
// secret is [credential.ErrRevoked] — the portal's disable is a kill switch
// — or, with [WithKeepLastGoodWhenDisabled], an outage during which the last
// good value is served.
//
// # Cost and throttling
//
// Key Vault allows 4,000 secret reads per vault per 10 seconds, then
// answers 429, and costs about $0.03 per 10,000 operations. Its properties
// listing returns 25 secrets a page with their latest version's attributes
// (no version ID, no value), for the whole vault. [Provider.CurrentVersions]
// is a vault-wide change check built on it: one listing per vault per
// poll, whatever the number of credentials, comparing each secret's
// created/updated/enabled/nbf/exp with the version last fetched; only the
// changed secrets are fetched ([Provider.FetchBatch]), a few at a time and
// within a request budget per 10 seconds ([WithRequestLimits]). After a
// 429 the provider makes no request to the vault until Retry-After has
// passed. The README next to this file has the cost and throttle table,
// printed by TestPollCost.
//
// # Push
//
// An [EventHandler] mounted on the service's mux receives Key Vault's
// events from an Event Grid subscription (Event Grid or CloudEvents
// schema, validation handshake included, deliveries authenticated by a
// shared secret) and notifies the credentials watching the secret through
// [credential.Notifier], so a new version is picked up without waiting for
// the poll.
//
// # Metadata
//
// [Provider.Describe] maps tags to metadata (owner, purpose, environment,
// system; see [TagNames]), keeps every tag and the content type in
// Metadata.Tags, and gives exp as Metadata.Expires.
//
// # Entra ID tokens
//
// [TokenProvider] turns any azcore.TokenCredential (DefaultAzureCredential
// by default through [NewTokenOpener]) into a credkit Provider of access
// tokens for a scope — [CognitiveServicesScope] for Azure OpenAI — whose
// Version.Expires is the token's expiry, so rotate refreshes it ahead and
// never serves it expired, and redact, health and the inventory cover it
// like any key. URL: azure-token://?scope=https://cognitiveservices.azure.com/.default.
//
// # Errors
//
// 404 is [credential.ErrNotFound]; 401 and 403 [credential.ErrPermission];
// 403 with inner error SecretDisabled [credential.ErrRevoked]; 429, 5xx and
// network failures [credential.ErrUnavailable]. The cause is Key Vault's own
// error ([ServiceError]: status, code, inner code, message); no error holds
// a value.
package azure
