// Package rotate keeps credentials current: when a key is rotated in its
// backend — a new version in AWS Secrets Manager, a swapped Kubernetes
// secret file — every replica picks it up without a restart, requests in
// flight finish, and a request that meets a 401 because the key changed
// under it refreshes and retries once (credential.Transport does that with
// [Credential.Refresh]).
//
// # One credential
//
// [Watch] returns a [*Credential]: application code holds it (it is a
// credential.Credential) and never a string.
//
//	c, err := rotate.Watch(ctx, "openai", file.New(), "/run/secrets/openai")
//	defer c.Close()
//	client := &http.Client{Transport: &credential.Transport{Credential: c}}
//
// Get is lock-free and allocation-free: an atomic pointer to an immutable
// snapshot. In the background the credential
//
//   - polls on an interval with jitter, using the backend's cheap version
//     check ([credential.VersionChecker]) before fetching;
//   - listens for pushes ([credential.Notifier]: fsnotify for files,
//     EventBridge and SQS for AWS, Pub/Sub for GCP, Event Grid for Azure),
//     with polling kept on as a fallback;
//   - refreshes a version that expires ahead of its expiry, and never serves
//     an expired one ([credential.ErrExpired]); a value minted at every
//     fetch ([credential.Minter]: OAuth 2.0 tokens, short-term keys) is
//     refreshed ahead of its expiry only, never at the poll interval;
//   - turns a check's [credential.ErrRevoked] (a secret disabled in its
//     backend) into a revocation: Get fails at once, until a check
//     succeeds again;
//   - on failure keeps serving the last good version, backs off
//     exponentially with full jitter up to a cap, and never replaces a good
//     value with an empty or expired one;
//   - keeps the previous version for an overlap window ([Credential.Previous],
//     default 10 minutes) for dual-key hand-over and for redaction;
//   - tells subscribers ([Credential.OnRotate]) with an [Event] that carries
//     fingerprints and version IDs, never values.
//
// [Credential.Status] reports freshness, version, failures, the next
// refresh and the mode, for health checks.
//
// # Push and the safety poll
//
// Push is what makes a fleet cheap: when a credential's backend pushes and
// reports its push channel healthy ([credential.PushHealth]: an SQS queue
// being read, a Pub/Sub subscription receiving, an Event Grid handler
// mounted, a folder watched), the credential polls at a slow safety
// interval ([WithSafetyInterval], default 15 minutes) instead of the
// normal one, and so does a Set's batch group; [Status].Mode is
// [ModePush]. The moment push turns unhealthy it is back on the normal
// interval: while relaxed it wakes at every normal interval to look at
// push health (no backend call), so the switch waits at most one normal
// interval; Mode is then [ModePoll]. A Notifier that does not report its
// health does not relax polling.
//
// # Locks and callbacks
//
// No lock is held across a backend call or a callback. A check fetches
// with no lock held and installs its version only if no other install
// happened meanwhile (a generation check), so a slow fetch never replaces
// a newer value. [Credential.Revoke] therefore acts on the next Get
// whatever is in flight, an OnRotate subscriber may call Revoke, and Close
// cancels the fetches in flight and returns promptly. A new value reaches
// the Set's change listeners (a tracking redactor) before it is published,
// and subscribers hear of it after.
//
// # Many credentials
//
// [Open] opens a [Set] from a config of names, URLs and metadata, through a
// credential.Resolver (provider.NewURLMux()), in batches where the backend
// allows ([credential.BatchDescriber], [credential.BatchFetcher]).
// [Set.Credential] hands out one credential, and a name the Set does not
// hold is an error at wiring time. A Set adds what a service and its
// reviewers need:
//
//   - an [Inventory]: per credential its metadata, backend, status, last
//     rotation, rotation due date, expiry, fingerprint, shared keys,
//     revocation and metadata findings, and for a short-lived credential its
//     TTL, issuer and subject, as JSON, without values. A short-lived
//     credential's token expiry is not a rotation due date and it needs no
//     rotation period, so tokens raise neither reminders nor findings;
//   - an environment guard ([WithEnvironment]): a credential tagged for
//     another environment is refused unless its Config allows it;
//   - shared-key detection: two names holding one value are flagged and
//     logged once (rotating one would break the other);
//   - rotation reminders ([WithReminders]): events and warnings when a
//     credential nears its due date, and again when it is overdue;
//   - a kill switch: [Set.Revoke] makes Get fail with
//     [credential.ErrRevoked] across the process at once, until
//     [Set.Restore].
//
// A Set is a [credential.SecretSource], so the redact package can keep
// every value it holds — previous versions in their overlap window too —
// out of the logs.
//
// # Time
//
// Every timer goes through a credential.Clock ([WithClock]), so tests of
// polling, backoff, expiry and reminders run in milliseconds on a fake one.
// Every goroutine stops on Close.
package rotate
