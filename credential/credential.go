package credential

import (
	"context"
	"time"
)

// Version is one version of a secret, as a backend returns it.
type Version struct {
	// Secret is the value.
	Secret Secret
	// ID is the backend's version id (AWS VersionId, GCP version number,
	// Vault version), or a content hash for backends without versions.
	// Equal IDs mean equal values.
	ID string
	// Created is when the version was created; zero when unknown.
	Created time.Time
	// Expires is when the version stops being valid; zero when it does not
	// expire.
	Expires time.Time
}

// Expired reports whether v has an expiry at or before now.
func (v Version) Expired(now time.Time) bool {
	return !v.Expires.IsZero() && !now.Before(v.Expires)
}

// Provider is what a backend implements: fetch the current version of the
// secret named by ref. A ref is backend-specific (a variable name, a path, a
// secret name or ARN); a "#field" suffix selects a field of a JSON (or
// dotenv) secret.
//
// Fetch must be safe for concurrent use. The returned Version must not be
// modified by the caller. Errors wrap one of the sentinels (ErrNotFound,
// ErrPermission, ErrUnavailable, ErrInvalid...) — usually as an *[Error] —
// except context errors, which are returned as they are; no error text
// contains the value or any part of it.
type Provider interface {
	Fetch(ctx context.Context, ref string) (Version, error)
}

// Credential is what application code holds: a named secret that stays
// current. Get returns the value to use now; for a watched credential
// (rotate.Watch) it does no I/O and no allocation.
//
// Implementations must be safe for concurrent use.
type Credential interface {
	Name() string
	Get(ctx context.Context) (Secret, error)
	Metadata() Metadata
}

// Refresher is implemented by credentials that can fetch their value again on
// demand, such as rotate.Watch. [Transport] calls it when a request is
// answered 401, and retries only when changed is true. Implementations share
// one fetch among concurrent callers and rate-limit it, so a revoked key does
// not hammer the backend.
type Refresher interface {
	Refresh(ctx context.Context) (changed bool, err error)
}

// RejectionRefresher is a [Refresher] that is also told which value the
// server rejected. A rate limit per version needs it: a 401 for a value
// that was replaced while the request was in flight asks for no fetch (the
// current value is already newer), so it cannot use up the one forced
// refresh the current version is allowed. [Transport] calls it, when a
// credential has it, instead of Refresh; changed reports whether the
// current value differs from rejected.
type RejectionRefresher interface {
	RefreshRejected(ctx context.Context, rejected Secret) (changed bool, err error)
}

// The optional interfaces below are capabilities a [Provider] may also have.
// Consumers (rotate) discover them with a type assertion and fall back to
// Fetch when they are absent.

// VersionChecker is a cheap change check: it returns the ID of the version
// Fetch would return now, without reading the value (AWS DescribeSecret, a
// file's stat, Azure secret properties). Where a plain fetch is as cheap, a
// backend does not implement it.
type VersionChecker interface {
	CurrentVersion(ctx context.Context, ref string) (id string, err error)
}

// BatchVersionChecker checks many refs in few calls (AWS ListSecrets).
// The result maps a ref to its current version ID; a ref missing from the
// map could not be checked this way and the caller falls back to a per-ref
// check. err reports a failure of the whole call.
type BatchVersionChecker interface {
	CurrentVersions(ctx context.Context, refs []string) (map[string]string, error)
}

// BatchFetcher fetches many refs in few calls (AWS BatchGetSecretValue).
// A ref missing from the result could not be fetched this way and the caller
// falls back to Fetch. err reports a failure of the whole call.
type BatchFetcher interface {
	FetchBatch(ctx context.Context, refs []string) (map[string]Version, error)
}

// Notifier pushes changes: after NotifyChange returns, changed is called
// (from another goroutine, possibly more than once, possibly spuriously)
// whenever the secret behind ref may have changed; the consumer then fetches.
// stop unregisters and waits until no call of changed is running or will
// start; it is safe to call more than once.
type Notifier interface {
	NotifyChange(ref string, changed func()) (stop func(), err error)
}

// PushHealth is implemented by a [Notifier] whose channel can fail (a
// queue that cannot be read, a file watcher that died, a subscription that
// lapsed). PushHealthy reports whether changes are being pushed now; while
// it is true a consumer (rotate) may poll at a slow safety interval
// instead of its normal one, and it goes back to the normal interval as
// soon as it is false. It must be cheap (an atomic load): it is called at
// every scheduling decision. A Notifier without it is taken as not healthy
// (polling stays at the normal interval).
type PushHealth interface {
	PushHealthy() bool
}

// Minter is implemented by a provider whose every Fetch mints a new
// credential (an OAuth 2.0 access token, a short-term API key) instead of
// reading a stored one. Mints reports whether that is so. A consumer
// (rotate) then never fetches on a polling schedule, which would mint a
// token a minute: it refreshes a minted version ahead of its expiry only.
type Minter interface {
	Mints() bool
}

// Describer returns what a backend knows about a secret besides its value:
// metadata from tags or labels and rotation facts (AWS DescribeSecret).
type Describer interface {
	Describe(ctx context.Context, ref string) (Description, error)
}

// ConditionReporter is implemented by a backend that knows of a condition
// of a secret it still serves but that someone should see: Google Secret
// Manager's latest version disabled while an older enabled one is served,
// for example. Conditions returns short texts naming the condition (never a
// value), or nil; it must be cheap (no I/O: what the backend learnt on its
// last fetch). rotate's inventory lists them and health's credential checks
// warn on them.
type ConditionReporter interface {
	Conditions(ref string) []string
}

// Description is what a [Describer] returns.
type Description struct {
	// Metadata from the backend's tags or labels; empty fields are unknown.
	Metadata Metadata
	// RotationEnabled reports whether the backend rotates the secret itself.
	RotationEnabled bool
	// LastRotated and NextRotation are the backend's rotation dates; zero when
	// unknown.
	LastRotated  time.Time
	NextRotation time.Time
	// A backend that mints its credentials (tokens) sets
	// Metadata.ShortLived.
	//
	// Issuer and Subject name who minted a short-lived credential and for
	// whom (an OAuth 2.0 token's iss and sub, a workload identity's
	// provider and service account); empty when unknown or not minted.
	// They are identifiers, never values.
	Issuer  string
	Subject string
}

// BatchDescriber describes many refs in few calls (AWS ListSecrets returns
// every listed secret's tags and rotation facts). A ref missing from the
// result could not be described this way and the caller falls back to
// [Describer]. err reports a failure of the whole call.
type BatchDescriber interface {
	DescribeBatch(ctx context.Context, refs []string) (map[string]Description, error)
}

// Resolver turns a credential URL ("env://OPENAI_API_KEY",
// "aws-sm://prod/openai#api_key?region=eu-west-1") into the provider that
// serves it and the ref to pass to Fetch. URLs that share a backend
// configuration resolve to the same Provider value, so a consumer can batch
// their checks. The provider package has the implementation.
type Resolver interface {
	Resolve(ctx context.Context, rawURL string) (p Provider, ref string, err error)
}

// SecretSource is implemented by holders of many secrets (rotate.Set) that a
// redactor tracks, so that every value a process holds — current versions and
// previous ones still in their overlap window — is kept out of its logs.
type SecretSource interface {
	// Secrets calls yield for every value held now, with the credential name,
	// until yield returns false.
	Secrets(yield func(name string, s Secret) bool)
	// OnChange registers f, called after any value is added or dropped. It
	// returns a function that unregisters f.
	OnChange(f func()) (unregister func())
}
