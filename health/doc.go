// Package health tells a service, and the people who run it, how its
// credentials and dependencies are doing.
//
// # Checks and the monitor
//
// A [Check] is a named probe with an interval, a timeout and a criticality.
// A [Monitor] runs each one in the background and caches its latest
// [Result] (pass, warn or fail, an output, an observed value). Serving never
// runs a check, so a storm of probes costs no call to a secret manager or a
// model provider. A check that panics or times out fails; the monitor lives
// on. Built-in checks:
//
//   - [CredentialCheck] and [SetChecks]: from rotate's status and
//     inventory, no backend call — fail when a credential has no value, is
//     expired or revoked, or its refresh has failed for too long; warn when
//     a refresh just failed, it expires or is due for rotation soon, or it
//     shares its value with another credential. A short-lived token (an
//     OAuth 2.0 or workload identity token, a Bedrock key, a lease) always
//     expires soon, so the 14-day expiry window does not apply to it: it
//     passes while it is refreshed on schedule, warns when its refresh fails
//     or when less than 20% of its life is left with no new token coming
//     (CredentialOptions.ExpiryFraction), and fails once it has expired.
//   - [HTTPCheck]: calls an endpoint with a credential (a model provider's
//     list-models endpoint) and classifies the answer ([ClassifyHTTP]):
//     2xx pass, 401/403 "credential rejected", 429 "rate limited" (warn),
//     5xx, timeouts and connection errors "unavailable".
//   - [ReporterCheck]: anything that knows its own state, such as the
//     circuit breakers of health/degrade.
//
// # The HTTP handler
//
// [NewHandler] serves /livez, /readyz (with ?verbose and ?exclude=NAME, as
// Kubernetes does), /readyz/NAME and /inventory as application/health+json
// in the IETF health check response format, to mount on an existing mux:
//
//	h := health.NewHandler(monitor, health.WithToken(os.Getenv("HEALTH_TOKEN")))
//	mux.Handle("/livez", h)
//	mux.Handle("/readyz", h)
//
// Detail and the inventory show the service's topology: only requests
// bearing the token of [WithToken] see them; everyone else gets the bare
// status. Loopback callers are not trusted by default, because behind a
// reverse proxy or a mesh sidecar on the same host every request comes from
// loopback; [WithLoopbackTrust] opts in where nothing on the host forwards
// outside requests.
// Outputs are written from error kinds, never error text, and
// [WithSanitizer] (a redactor's String) cleans what a careless check writes.
//
// # Usage audit
//
// [Audit] records every use of a credential made through a
// credential.Transport (plug Audit.Observe into Transport.Observe): which
// credential (name and fingerprint), which system and action, on whose
// behalf ([WithSource]), with which outcome and latency. It counts uses per
// credential, exports them through the OpenTelemetry metric API, logs an
// event per use or a summary per interval ([WithAggregation]: written when
// the interval ends, even for a credential not used again, and by
// [Audit.Close]), and flags a rate of use far over the credential's own
// baseline, or a burst of denials, through [Audit.Check].
//
// # Monitor
//
// A [Monitor] run of a check stores that check's result only: its cost
// does not grow with the number of checks. The snapshot that serving reads
// is rebuilt under one writer lock when it is read after a change, so an
// older snapshot never replaces a newer one. A check that ignores its
// context is not started again while its previous run goes on, and Close
// waits for the runs it started.
package health
