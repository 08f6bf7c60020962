// Package credential is credkit's vocabulary: the types every other package
// and every backend share. It imports nothing else of credkit.
//
// # Secrets
//
// A [Secret] holds a sensitive value and never prints it: fmt (every verb,
// flag and width), slog, encoding/json, encoding/xml and
// encoding.TextMarshaler all show [Redacted]; encoding/gob refuses it.
// [Secret.Reveal] is the only way out. [Secret.Fingerprint] is a short keyed
// hash that is safe to log: it tells versions apart and finds shared keys
// without showing them. [ContentID] is the version ID of backends without
// versions, keyed the same way.
//
// # Fingerprint key
//
// Fingerprints and content IDs are keyed per process by default: the same
// value shows different fingerprints on two replicas. An operator who wants
// them equal across a fleet gives a key of their own with
// [SetFingerprintKey], once, first thing in main; it refuses to change a key
// that a fingerprint or ID was already computed with, so there is no state
// a library can change under a running service.
//
// # Credentials and providers
//
// Application code holds a [Credential]: a named secret that stays current.
// rotate.Watch is the one that follows its backend; [Static] is set in code.
// A backend implements [Provider], one method, and may implement optional
// capabilities that consumers discover with a type assertion:
// [VersionChecker] (a cheap change check), [BatchVersionChecker] and
// [BatchFetcher] (many refs in few calls), [Notifier] (push on change),
// [PushHealth] (whether that push works now, so polling can relax),
// [Minter] (every fetch mints a new value: refresh ahead of expiry only) and
// [Describer] (metadata and rotation dates). A [Resolver] turns a credential
// URL into a provider and a ref; the provider package implements it.
//
// [Metadata] says who owns a credential, what it is for, where it may be
// used and how often it must be rotated; [Metadata.Validate] reports what a
// reviewer would flag.
//
// # Errors
//
// Every error wraps one of the sentinels — [ErrNotFound], [ErrPermission],
// [ErrUnavailable], [ErrInvalid], [ErrExpired], [ErrRevoked], [ErrClosed] —
// usually through an [*Error] that names the credential, the ref and the
// problem, so errors.Is works across packages. Context errors stay visible
// to errors.Is. No error text holds a secret value or any part of one:
// reasons describe the shape of the input, never its content, and URLs are
// printed through [SafeRef], which drops user info whatever it holds and
// every setting value not known to be harmless.
//
// # Calling APIs
//
// [Transport] is an http.RoundTripper that puts the current value into every
// request (Authorization: Bearer by default; [Header], [HeaderPrefix] or
// [Query] for other APIs), without touching the caller's request. On a 401 it
// asks a [Refresher] credential to refresh and retries once if the key
// changed, so a request that meets a rotation succeeds. Its Observe hook
// reports each use, for audit.
//
// A key goes only to the host it was meant for: when an http.Client follows
// a redirect, [InjectAllowed] decides whether the new request may carry the
// key — the same host or a subdomain of it, never from https to plain http,
// net/http's own rule for a caller's Authorization — and a redirect
// elsewhere goes out without it, whatever the injection style.
//
// # Time
//
// Every timer in credkit goes through a [Clock]; [SystemClock] is the real
// one, and tests inject a fake to run hours of polling in milliseconds.
package credential
