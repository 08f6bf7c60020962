// Package gcp is the credkit backend for Google Secret Manager, on the
// SDK's own client (cloud.google.com/go/secretmanager/apiv1), with push
// through Pub/Sub (cloud.google.com/go/pubsub/v2).
//
// # Refs and URLs
//
// A ref is a secret's resource name, optionally with a version and a JSON
// field:
//
//	projects/my-project/secrets/openai
//	projects/my-project/secrets/openai#api_key
//	projects/my-project/secrets/openai/versions/7
//	projects/my-project/secrets/openai/versions/prod#api_key   (an alias)
//	projects/my-project/locations/europe-west4/secrets/openai   (regional)
//
// The version is "latest" when absent. The URL form, for a provider.URLMux
// with [NewOpener] registered as "gcp-sm", puts the same name after the
// scheme: gcp-sm://projects/my-project/secrets/openai#api_key. The Opener
// makes its clients with Application Default Credentials, one per
// configuration (regional secrets use their location's endpoint,
// secretmanager.LOCATION.rep.googleapis.com), and takes one setting,
// endpoint. An unknown or repeated setting is ErrInvalid, named but never
// quoted; errors print URLs without setting values.
//
// # Fetch
//
// [Provider.Fetch] calls AccessSecretVersion. Version.ID is the concrete
// version number the service answered with, so rotate sees an alias move
// or a new latest version as a rotation, and an unchanged version as no
// change (the value is not reinstalled). The payload's CRC32C is verified;
// a mismatch is ErrUnavailable and the value is dropped. The value (after
// "#field") goes through the one check every backend shares
// (internal/field.Value): one trailing newline, as
// "gcloud secrets versions add --data-file" leaves, is trimmed; a value
// that is empty, not UTF-8 or holds a NUL, CR or LF is ErrInvalid.
//
// # A disabled or destroyed latest version
//
// "latest" is the most recently created version whatever its state, and
// reading it fails with FailedPrecondition once it is disabled or
// destroyed. By default the provider then serves the newest enabled
// version (one ListSecretVersions call, remembered for 10 minutes, so a
// poll costs two accesses) and reports a [Condition] through
// [Provider.Conditions], the log and [WithConditionHook]. With
// [WithDisabledLatestRevokes], a disabled latest means revoked: Fetch fails
// with ErrRevoked and the hook is told, so a console's "disable" acts as a
// kill switch across replicas: rotate turns a check's ErrRevoked into a
// revocation (Get fails at once) on every replica the Pub/Sub
// SECRET_VERSION_DISABLE notification reaches, and lifts it at the first
// successful check after the version is enabled again or a new one is
// added. A pinned version or alias that is disabled is ErrRevoked in both
// modes.
//
// # Quotas, cost and push
//
// Secret Manager allows 90,000 accesses a minute per project, but only 600
// other reads (metadata: GetSecret, GetSecretVersion, ListSecretVersions),
// and has no batch read. A metadata "cheap check" is therefore the scarce
// call: the provider checks for change with AccessSecretVersion itself, and
// implements neither credential.VersionChecker nor the batch interfaces.
// [Provider.Describe] (GetSecret: labels and annotations → metadata,
// next_rotation_time, expire_time) is called by rotate once at open and
// remembered; [WithoutDescribe] skips it for fleets that start many
// replicas at once. At scale, Pub/Sub push ([NewNotifier],
// [NewPushProvider], [WithPush]) replaces polling, which can then be rare.
// The README next to this file has the cost and quota table and the IAM
// of each mode.
//
// # Retries
//
// The SDK retries Unavailable and ResourceExhausted on its own. The
// provider bounds that loop to one retry by default ([WithSDKRetry]) and
// adds none of its own: a failing fetch returns ErrUnavailable promptly and
// rotate's backoff, which serves the last good value meanwhile, decides
// when to try again.
//
// # Google access tokens
//
// [TokenProvider] mints OAuth 2.0 access tokens from Application Default
// Credentials (golang.org/x/oauth2/google) for Vertex AI and other Google
// APIs that take a bearer token: Version.Expires is the token's expiry, so
// rotate refreshes it ahead and never serves it expired. Its URL, with
// [NewTokenOpener] registered as "gcp-token", is
// gcp-token://?scope=https://www.googleapis.com/auth/cloud-platform (the
// default scope). [TokenProvider.Describe] marks it short-lived and names
// its issuer and service account for the inventory.
//
// # Errors
//
// NotFound is ErrNotFound; PermissionDenied and Unauthenticated are
// ErrPermission; Unavailable, ResourceExhausted, DeadlineExceeded and other
// server failures are ErrUnavailable; InvalidArgument and malformed refs
// are ErrInvalid; a disabled or destroyed version is ErrRevoked (see
// above). The gRPC status (code and message, which name resources, never
// payloads) is kept as the cause; a context's cancellation or deadline is
// returned as it is.
package gcp
