package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/rotate"
)

// CredentialOptions tunes the credential checks. The zero value means the
// defaults.
type CredentialOptions struct {
	// FailAfter is how long refreshes may keep failing before the check
	// fails (default 15 minutes); before that it warns.
	FailAfter time.Duration
	// ExpiryWindow is how soon before a key version's expiry the check
	// warns (default 14 days). It does not apply to short-lived credentials
	// (tokens, see ExpiryFraction), which always expire within it.
	ExpiryWindow time.Duration
	// ExpiryFraction applies to a short-lived credential (a token minted
	// on demand: its backend marks it so, or its version lives no longer
	// than rotate.ShortLivedTTL): the check warns when less than this
	// fraction of the token's life remains (default 0.2) and no new token is
	// coming in time — its refresh point has passed without one (by more
	// than a twentieth of its life, at most 30 s: the grace of a request in
	// flight), or no refresh is scheduled before the expiry. A token refreshed on
	// schedule passes; one whose refresh fails warns (stale), and fails once
	// it has expired.
	ExpiryFraction float64
	// Interval of the check (default 30 s). It reads the credential's
	// status only: no backend call.
	Interval time.Duration
	// NotCritical makes the checks report without deciding readiness.
	NotCritical bool
	// Clock for "now" (default credential.SystemClock).
	Clock credential.Clock
}

func (o CredentialOptions) withDefaults() CredentialOptions {
	if o.FailAfter <= 0 {
		o.FailAfter = 15 * time.Minute
	}
	if o.ExpiryWindow <= 0 {
		o.ExpiryWindow = 14 * 24 * time.Hour
	}
	if o.ExpiryFraction <= 0 || o.ExpiryFraction >= 1 {
		o.ExpiryFraction = 0.2
	}
	o.Clock = credential.ClockOrSystem(o.Clock)
	return o
}

// CredentialCheck checks one watched credential from its status: it fails
// when the credential has no value, is expired or revoked, or its refresh
// has been failing for longer than FailAfter; it warns when a refresh just
// failed, or the version expires within ExpiryWindow — or, for a
// short-lived token, when it nears its expiry with no new token coming (see
// ExpiryFraction). Its observed value is the version's age in seconds. A
// passing output also says how the credential learns of changes ("push,
// safety poll every 15m0s", "polling every 1m0s", "minted, refreshed ahead
// of expiry"): rotate.Status.Mode.
func CredentialCheck(c *rotate.Credential, o CredentialOptions) Check {
	o = o.withDefaults()
	return Check{
		Name: c.Name() + ":credential", Component: c.Name(), Measurement: "credential", ComponentType: "component",
		Critical: !o.NotCritical, Interval: o.Interval,
		Run: func(context.Context) Result { return judge(c.Status(), o, c.Metadata().ShortLived) },
	}
}

// judge turns a status into a result; shortLived is what the metadata or
// inventory says. Outputs are written from kinds and times, never from
// error text.
func judge(st rotate.Status, o CredentialOptions, shortLived bool) Result {
	now := o.Clock.Now()
	r := Result{Status: Pass, Output: "fresh, version " + st.VersionID + "; " + modeText(st), ObservedValue: int64(st.Age / time.Second), ObservedUnit: "s"}
	switch st.Freshness {
	case rotate.Pending:
		return Result{Status: Fail, Output: "no value loaded yet"}
	case rotate.Revoked:
		return Result{Status: Fail, Output: "revoked: " + st.RevokeReason}
	case rotate.Expired:
		out := "expired at " + st.Expires.UTC().Format(time.RFC3339) + "; refresh failing (" + st.LastError + ")"
		if st.LastError == "" {
			out = "expired at " + st.Expires.UTC().Format(time.RFC3339) + "; no new version has arrived"
		}
		return Result{Status: Fail, Output: out}
	case rotate.Stale:
		since := now.Sub(st.FailingSince)
		out := "refresh failing for " + since.Round(time.Second).String() + " (" + st.LastError + ", " + strconv.Itoa(st.ConsecutiveFailures) + " in a row); serving the last good value; " + modeText(st)
		if since >= o.FailAfter {
			return Result{Status: Fail, Output: out, ObservedValue: int64(since / time.Second), ObservedUnit: "s"}
		}
		return Result{Status: Warn, Output: out, ObservedValue: int64(since / time.Second), ObservedUnit: "s"}
	}
	if life := tokenLife(st, shortLived); life > 0 {
		if out, warn := tokenExpiryWarning(st, now, life, o.ExpiryFraction); warn {
			r.Status, r.Output = Warn, out
		}
	} else if !st.Expires.IsZero() && st.Expires.Sub(now) <= o.ExpiryWindow {
		r.Status, r.Output = Warn, "expires at "+st.Expires.UTC().Format(time.RFC3339)
	}
	return r
}

// modeText says how the credential learns of changes: push with a safety
// poll, polling, or refresh ahead of expiry.
func modeText(st rotate.Status) string {
	switch st.Mode {
	case rotate.ModePush:
		return "push, safety poll every " + st.PollInterval.String()
	case rotate.ModeRefreshAhead:
		return "minted, refreshed ahead of expiry"
	}
	return "polling every " + st.PollInterval.String()
}

// SetChecks returns one check per credential of set. Besides what
// CredentialCheck judges, each warns when the credential is due for
// rotation within the set's reminder window, is overdue, or shares its
// value with another credential. A run reads its own credential's
// inventory row only, so the cost of the checks grows linearly with the
// set.
func SetChecks(set *rotate.Set, o CredentialOptions) []Check {
	o = o.withDefaults()
	var out []Check
	for _, name := range set.Names() {
		out = append(out, Check{
			Name: name + ":credential", Component: name, Measurement: "credential", ComponentType: "component",
			Critical: !o.NotCritical, Interval: o.Interval,
			Run: func(context.Context) Result {
				it, ok := set.Item(name)
				if !ok {
					return Failed("not in the set")
				}
				r := judge(it.Status, o, it.ShortLived)
				if r.Status == Fail {
					return r
				}
				var warns []string
				switch {
				case it.Overdue:
					warns = append(warns, "rotation overdue since "+it.RotationDue.UTC().Format(time.RFC3339))
				case it.DueSoon:
					warns = append(warns, "rotation due "+it.RotationDue.UTC().Format(time.RFC3339))
				}
				if len(it.SharedWith) > 0 {
					warns = append(warns, "shares its value with "+strings.Join(it.SharedWith, ", "))
				}
				warns = append(warns, it.Conditions...)
				if len(warns) > 0 {
					if r.Status == Pass {
						r.Output = ""
					} else {
						warns = append([]string{r.Output}, warns...)
					}
					r.Status, r.Output = Warn, strings.Join(warns, "; ")
				}
				return r
			},
		})
	}
	return out
}

// Outcome classifies a response or a transport error, for health checks
// and for health/degrade.
type Outcome string

const (
	// OK: a 2xx or 3xx response.
	OK Outcome = "ok"
	// Rejected: 401 or 403, the credential was refused.
	Rejected Outcome = "credential rejected"
	// RateLimited: 429.
	RateLimited Outcome = "rate limited"
	// Unavailable: 5xx, a timeout or a connection error.
	Unavailable Outcome = "unavailable"
	// ClientError: another 4xx.
	ClientError Outcome = "client error"
	// Canceled: the caller's context ended.
	Canceled Outcome = "canceled"
)

// ClassifyHTTP classifies a status code (when err is nil) or a transport
// error.
func ClassifyHTTP(status int, err error) Outcome {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return Canceled
		}
		return Unavailable
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Rejected
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status >= 500:
		return Unavailable
	case status >= 400:
		return ClientError
	}
	return OK
}

// ResultOf maps an outcome to a check result: OK passes, RateLimited warns,
// the rest fail.
func ResultOf(o Outcome, status int) Result {
	r := Result{Output: string(o), ObservedValue: status, ObservedUnit: "http status"}
	switch o {
	case OK:
		r.Status = Pass
	case RateLimited:
		r.Status = Warn
	default:
		r.Status = Fail
	}
	if status == 0 {
		r.ObservedValue, r.ObservedUnit = nil, ""
	}
	return r
}

// HTTPCheck calls url with client (give it a credential.Transport, so the
// call proves the key works: a model provider's list-models endpoint is a
// good target) and classifies the answer: 2xx pass; 401/403 fail as
// "credential rejected"; 429 warns as "rate limited"; 5xx, timeouts and
// connection errors fail as "unavailable". The observed value is the
// response time in milliseconds. The response body is discarded unread
// beyond 4 KiB.
func HTTPCheck(component, url string, client *http.Client, critical bool) Check {
	if client == nil {
		client = http.DefaultClient
	}
	return Check{
		Name: component + ":responseTime", Component: component, Measurement: "responseTime", ComponentType: "system",
		Critical: critical,
		Run: func(ctx context.Context) Result {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return Failed("bad check URL")
			}
			start := time.Now()
			resp, err := client.Do(req)
			ms := time.Since(start).Milliseconds()
			if err != nil {
				out := Unavailable
				switch k := credential.Kind(err); k {
				case credential.ErrRevoked, credential.ErrExpired, credential.ErrNotFound, credential.ErrPermission, credential.ErrInvalid:
					// The request never left: the credential itself failed.
					return Failed("credential " + credential.KindName(err))
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
					return Result{Status: Fail, Output: "unavailable: timeout"}
				}
				return ResultOf(out, 0)
			}
			io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
			r := ResultOf(ClassifyHTTP(resp.StatusCode, nil), resp.StatusCode)
			if r.Status == Pass {
				r.ObservedValue, r.ObservedUnit = ms, "ms"
			}
			return r
		},
	}
}

// Reporter is implemented by components that know their own health, such
// as the circuit breakers of health/degrade: the monitor asks them, and
// they answer from state they already hold.
type Reporter interface {
	HealthResult() Result
}

// ReporterCheck turns a Reporter into a check.
func ReporterCheck(component, measurement string, r Reporter, critical bool) Check {
	return Check{
		Name: component + ":" + measurement, Component: component, Measurement: measurement, ComponentType: "component",
		Critical: critical, Interval: 5 * time.Second,
		Run: func(context.Context) Result { return r.HealthResult() },
	}
}
