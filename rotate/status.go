package rotate

import (
	"time"

	"github.com/credkit/credkit/credential"
)

// Freshness says how much to trust a credential's current value.
type Freshness string

const (
	// Pending: no value has been loaded yet.
	Pending Freshness = "pending"
	// Fresh: the last check succeeded.
	Fresh Freshness = "fresh"
	// Stale: the last check failed; the last good value is being served.
	Stale Freshness = "stale"
	// Expired: the current version expired and no new one could be fetched;
	// Get fails.
	Expired Freshness = "expired"
	// Revoked: the kill switch is on; Get fails.
	Revoked Freshness = "revoked"
)

// Status is a credential's health, for checks, dashboards and the
// inventory. It holds no value: errors are reported by kind
// ([credential.KindName]), because an error's text may come from a third
// party.
type Status struct {
	Name      string    `json:"name"`
	Freshness Freshness `json:"freshness"`
	// VersionID and Fingerprint identify the current version.
	VersionID   string `json:"version_id,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// VersionCreated is the backend's creation time of the current version
	// (zero when unknown); Age is how old that version is.
	VersionCreated time.Time     `json:"version_created,omitzero"`
	Age            time.Duration `json:"age_ns,omitempty"`
	// Fetched is when the current version was loaded.
	Fetched time.Time `json:"fetched,omitzero"`
	// Expires is when the current version expires (zero: never).
	Expires time.Time `json:"expires,omitzero"`
	// LastSuccess and LastAttempt are the times of the last successful and
	// last attempted check.
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastError is the kind of the last error ("unavailable", "permission"...),
	// empty after a success.
	LastError string `json:"last_error,omitempty"`
	// ConsecutiveFailures counts failed checks since the last success;
	// FailingSince is when they started; TotalFailures counts all.
	ConsecutiveFailures int       `json:"consecutive_failures"`
	FailingSince        time.Time `json:"failing_since,omitzero"`
	TotalFailures       int64     `json:"total_failures"`
	// NextRefresh is when the next check is due.
	NextRefresh time.Time `json:"next_refresh,omitzero"`
	// Rotations counts the rotations seen; LastRotated is the last one.
	Rotations   int       `json:"rotations"`
	LastRotated time.Time `json:"last_rotated,omitzero"`
	// PreviousUntil is when the previous version leaves its overlap window
	// (zero when there is none).
	PreviousUntil time.Time `json:"previous_until,omitzero"`
	// Revoked and RevokeReason report the kill switch: the operator's
	// (Revoke, lifted by Restore) or the backend's (a check returned
	// credential.ErrRevoked, lifted by the next successful check);
	// RevokedBy says which: "operator" or "backend".
	Revoked      bool   `json:"revoked,omitempty"`
	RevokeReason string `json:"revoke_reason,omitempty"`
	RevokedBy    string `json:"revoked_by,omitempty"`
	// Mode says how the credential learns of changes now: ModePush (push
	// is healthy, polling at the safety interval), ModePoll (polling at
	// the normal interval) or ModeRefreshAhead (a minted value, refreshed
	// ahead of its expiry only). PollInterval is the poll interval of
	// that mode, before jitter (the safety interval for a minted value
	// without expiry; zero for one that expires).
	Mode         Mode          `json:"mode"`
	PollInterval time.Duration `json:"poll_interval_ns,omitempty"`
	// Closed reports that the credential no longer refreshes.
	Closed bool `json:"closed,omitempty"`
}

// Status returns the credential's current status.
func (c *Credential) Status() Status {
	now := c.o.clock.Now()
	mode := c.mode()
	s := c.snap.Load()
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	out := Status{
		Name:                c.name,
		VersionID:           s.cur.ID,
		Fingerprint:         s.cur.Secret.Fingerprint(),
		VersionCreated:      s.cur.Created,
		Fetched:             st.fetched,
		Expires:             s.cur.Expires,
		LastSuccess:         st.lastSuccess,
		LastAttempt:         st.lastAttempt,
		LastError:           credential.KindName(st.lastErr),
		ConsecutiveFailures: st.failures,
		FailingSince:        st.failingSince,
		TotalFailures:       st.total,
		NextRefresh:         st.nextRefresh,
		Rotations:           st.rotations,
		LastRotated:         st.lastRotated,
		Revoked:             s.revoked,
		RevokeReason:        s.reason,
		Closed:              st.closed,
		Mode:                mode,
		PollInterval:        c.every(mode),
	}
	switch {
	case s.revoked:
		out.RevokedBy = "operator"
	case s.byBackend:
		out.Revoked, out.RevokeReason, out.RevokedBy = true, "by the backend: "+s.backendWhy, "backend"
	}
	if mode == ModeRefreshAhead && !s.cur.Expires.IsZero() {
		out.PollInterval = 0
	}
	if !s.prev.Secret.IsZero() && now.Before(s.prevUntil) {
		out.PreviousUntil = s.prevUntil
	}
	if !s.cur.Created.IsZero() {
		out.Age = now.Sub(s.cur.Created)
	} else if !st.fetched.IsZero() {
		out.Age = now.Sub(st.fetched)
	}
	switch {
	case s.revoked || s.byBackend:
		out.Freshness = Revoked
	case s.cur.Secret.IsZero():
		out.Freshness = Pending
	case s.expired || s.cur.Expired(now):
		out.Freshness = Expired
	case st.failures > 0:
		out.Freshness = Stale
	default:
		out.Freshness = Fresh
	}
	return out
}

// EventKind names what happened to a credential.
type EventKind string

const (
	// EventRotated: a new value replaced the old one.
	EventRotated EventKind = "rotated"
	// EventFailed: a refresh failed after a success (the first failure of a
	// run; the last good value is served).
	EventFailed EventKind = "refresh_failed"
	// EventRecovered: a refresh succeeded after failures.
	EventRecovered EventKind = "recovered"
	// EventRevoked: the kill switch was turned on.
	EventRevoked EventKind = "revoked"
	// EventRestored: the kill switch was turned off.
	EventRestored EventKind = "restored"
	// EventRotationDue: the credential is within its reminder window of its
	// rotation due date or expiry.
	EventRotationDue EventKind = "rotation_due"
	// EventRotationOverdue: the due date has passed.
	EventRotationOverdue EventKind = "rotation_overdue"
	// EventShared: the credential holds the same value as another one.
	EventShared EventKind = "shared"
)

// Event tells subscribers what happened. It never carries a value: versions
// are told apart by ID and fingerprint.
type Event struct {
	Kind EventKind `json:"kind"`
	Name string    `json:"name"`
	Time time.Time `json:"time"`
	// OldVersion/NewVersion and OldFingerprint/NewFingerprint identify the
	// versions involved (rotation: both; others: the current one as New).
	OldVersion     string `json:"old_version,omitempty"`
	NewVersion     string `json:"new_version,omitempty"`
	OldFingerprint string `json:"old_fingerprint,omitempty"`
	NewFingerprint string `json:"new_fingerprint,omitempty"`
	// ErrorKind is the failure's kind for EventFailed.
	ErrorKind string `json:"error_kind,omitempty"`
	// Reason explains a revocation; Due is the due date of a reminder;
	// With names the other credentials of EventShared.
	Reason string    `json:"reason,omitempty"`
	Due    time.Time `json:"due,omitzero"`
	With   []string  `json:"with,omitempty"`
}
