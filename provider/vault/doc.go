// Package vault is the credkit backend for HashiCorp Vault (and OpenBao),
// on Vault's Go client, github.com/hashicorp/vault/api: KV secrets, dynamic
// secrets under leases that it renews and replaces, and a Vault token that
// renews itself.
//
// # Refs and URLs
//
// A ref is MOUNT/PATH, optionally with a field and settings:
// "secret/prod/openai#api_key", "secret/prod/openai?version=3#api_key",
// "database/creds/readonly#password", "kv/legacy/key?kv=1". The URL form,
// for a provider.URLMux with [NewOpener] registered as "vault":
//
//	vault://secret/prod/openai#api_key
//	vault://secret/data/prod/openai#api_key         (the HTTP API's form: the same secret)
//	vault://secret/prod/openai#api_key?version=3&namespace=team-ml
//	vault://database/creds/readonly#username
//
// The settings are version (a KV v2 version), kv (1 or 2: skip the mount
// lookup; the first path segment is then the mount) and namespace (Vault Enterprise, sent as X-Vault-Namespace). An
// unknown or repeated setting is credential.ErrInvalid naming the setting;
// errors print refs with every setting's value replaced by "_".
//
// Without kv=, the provider asks Vault which engine serves the path
// (sys/internal/ui/mounts, the preflight Vault's CLI uses, once per path).
// When the policy denies it, MOUNT/data/PATH is read as KV v2 and any other
// path as is: a KV v1 secret, or a dynamic secret when the answer carries a
// lease.
//
// #field selects a key of the secret's data; without one, the data must
// have exactly one key. A field missing from a secret whose only key holds
// a JSON document is looked up in that document. The selected value goes
// through the check every backend shares (internal/field.Value): one
// trailing newline is trimmed; a value that is empty, not UTF-8, or holds
// NUL, CR or LF is refused (credential.ErrInvalid).
//
// # KV
//
// KV version 2: Version.ID is the KV version and Created its creation
// time; ?version= pins one. A deleted latest version is
// credential.ErrNotFound and a destroyed one credential.ErrRevoked, never an
// empty value (Vault's client returns no error and no data for them).
// [Provider.CurrentVersion], the cheap check rotate uses, reads the
// metadata path (current_version), which needs a "read" capability on
// MOUNT/metadata/PATH; where the policy denies it, the provider logs that
// once and reads the data instead. [Provider.Describe] maps the secret's
// custom_metadata to credential.Metadata ([MetadataNames]).
//
// KV version 1 has no versions: Version.ID is [credential.ContentID] of the
// value, an HMAC under the fingerprint key (random per process, or the
// operator's fleet key: credential.SetFingerprintKey), so it confirms no
// guessed value offline, and replicas sharing the key agree on it.
//
// # Dynamic secrets and leases
//
// A path served by any other engine (database/creds/ROLE, aws/creds/ROLE,
// ...) is a dynamic secret: reading it creates credentials under a lease.
// The provider keeps one lease per path (and namespace): every ref of the
// path — #username and #password taken as two credentials — reads its
// field from the same lease, and a check never reads a new secret.
// Version.ID is LEASE_ID@RENEWALS ([LeaseOf] gives the lease), Created the
// lease's start and Expires its current end.
//
// The lease is renewed at two thirds of its remaining TTL, less up to 10%
// jitter, as Vault's LifetimeWatcher does ([WithRenewJitter]). When a
// renewal no longer extends it by its TTL — it has reached its max TTL —
// the provider reads a new secret at two thirds of the time left: the old
// lease stays valid for the last third, which covers rotate's overlap. A
// revoked lease (renewal refused) is replaced at once. A lease nobody
// fetched or checked for a whole TTL is let go.
//
// [Provider.Leases] is a view of the same provider that also implements
// credential.Notifier: a rotate.Credential built on it hears of each
// renewal and replacement at once, so the username and password
// credentials of a path move to a new lease together, while the old lease
// is still valid. [NewOpener] hands it out for dynamic-secret URLs.
//
// Close keeps the leases by default: they lapse at their TTL. Revoking on
// Close drops the database users while connections opened with them may
// still be draining, and a process that restarts gets new leases anyway;
// a rolling deploy would briefly cut the old replica's connections for no
// gain. [WithRevokeOnClose] revokes them (and the provider's own token when
// it logged in itself), for short-lived jobs that must leave nothing behind.
//
// # Auth
//
// The provider holds its own Vault token, from an [Auth]: [TokenAuth] (the
// client's token by default: VAULT_TOKEN), [AppRoleAuth], [KubernetesAuth]
// or [JWTAuth]. It logs in on first use, renews the token with renew-self
// at two thirds of its TTL, logs in again before the token's max TTL ends,
// and after a revoke. A 403 is checked with lookup-self: a revoked token is
// replaced by one login (per token) and the request retried once; a valid
// token means the policy denies the path, and nothing more is tried. The
// token is sent per request and never written into the client, logged or
// put in an error.
//
// [Provider.AuthStatus] and [Provider.CheckAuth] report the token's state
// for a health check; [TokenRef] ("auth/token/self") serves the token
// itself as a short-lived credential, so that a rotate.Set holding it shows
// its expiry in the inventory and its redactor knows it.
//
// # Inventory
//
// [Provider.Describe] marks a dynamic secret under a lease, and a token
// with a TTL, short-lived (credential.Metadata.ShortLived), like the other
// minted credentials: a rotate.Set's inventory row shows short_lived, the
// lease's or token's TTL, its issuer (the Vault URL of the secrets engine
// path, such as https://vault:8200/v1/database/creds/readonly, or of the
// auth mount, such as .../v1/auth/kubernetes) and its subject (the Vault
// identity entity of the provider's token, [AuthStatus].EntityID, or
// "role:NAME" for a Kubernetes or JWT login when Vault gives no entity).
// Neither the lease's expiry nor its replacement at the max TTL is a
// rotation due date — the provider renews and replaces it — and no "no
// rotation period" finding is raised, whatever the lease's length. A KV
// secret, and a token without a TTL (root), are keys.
//
// # Errors
//
// 404 is credential.ErrNotFound; 401 and 403 credential.ErrPermission; 400
// credential.ErrInvalid; 429 (a rate-limit quota), 412, 5xx (sealed,
// standby) and network failures credential.ErrUnavailable. A 429 is
// honoured: no request is sent before its Retry-After. Vault's errors array
// is kept as the cause, a [*ServerError]. The client's own retries
// (VAULT_MAX_RETRIES) are kept; credkit does not retry on top of them.
//
// The README next to this file has the policies each mode needs and a
// dynamic-database walkthrough.
package vault
