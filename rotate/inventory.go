package rotate

import (
	"errors"
	"time"

	"github.com/credkit/credkit/credential"
)

// Inventory answers a security reviewer: which credentials this service
// holds, who owns them, when they were last rotated, which are due or
// expire soon, which share a value, which are revoked. It holds no value and
// encodes to JSON as it is.
type Inventory struct {
	Environment string          `json:"environment,omitempty"`
	Generated   time.Time       `json:"generated"`
	Credentials []InventoryItem `json:"credentials"`
}

// InventoryItem describes one credential.
type InventoryItem struct {
	Name     string              `json:"name"`
	Backend  string              `json:"backend"`
	Metadata credential.Metadata `json:"metadata"`
	Status   Status              `json:"status"`
	// Fingerprint identifies the current value.
	Fingerprint string `json:"fingerprint,omitempty"`
	// LastRotated is the backend's last rotation date, or else the current
	// version's creation time, or else when credkit last saw it rotate.
	LastRotated time.Time `json:"last_rotated,omitzero"`
	// RotationDue is when the credential must be rotated or replaced: the
	// earliest of LastRotated + RotationPeriod, the backend's next rotation
	// date, the metadata's Expires and the version's Expires — except for a
	// short-lived credential, whose version's expiry and backend's next
	// rotation are not due dates (credkit replaces the token ahead of them;
	// an expiring token is health's concern).
	// Zero when no policy applies.
	RotationDue time.Time `json:"rotation_due,omitzero"`
	// DueSoon: RotationDue is within the reminder window. Overdue: it has
	// passed.
	DueSoon bool `json:"due_soon,omitempty"`
	Overdue bool `json:"overdue,omitempty"`
	// Expires is the earlier of the metadata's and the version's expiry.
	Expires time.Time `json:"expires,omitzero"`
	// RotationEnabled reports that the backend rotates it itself.
	RotationEnabled bool `json:"rotation_enabled,omitempty"`
	// SharedWith names the other credentials holding the same value.
	SharedWith []string `json:"shared_with,omitempty"`
	// Revoked and RevokeReason report the kill switch.
	Revoked      bool   `json:"revoked,omitempty"`
	RevokeReason string `json:"revoke_reason,omitempty"`
	// ShortLived reports a minted credential (an OAuth 2.0 token, a
	// workload identity token, a Bedrock key, a Vault lease): its backend
	// marks it so (Metadata.ShortLived, from its Describe), or its current
	// version lives no longer than [ShortLivedTTL]. TTL is the current
	// version's lifetime: its Expires minus its Created time, or minus when
	// it was fetched when the backend gives no creation time. A short-lived
	// credential has no "no rotation period" finding and its token's expiry
	// is no rotation due date, so it raises no rotation reminder.
	ShortLived bool          `json:"short_lived,omitempty"`
	TTL        time.Duration `json:"ttl_ns,omitempty"`
	// Issuer and Subject say who minted a short-lived credential and for
	// whom, when the backend's credential.Description has them.
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Findings are what Metadata.Validate reports.
	Findings []string `json:"findings,omitempty"`
	// Conditions are what the backend reports of a secret it still serves
	// (credential.ConditionReporter): "latest version 7 is DISABLED;
	// serving version 6".
	Conditions []string `json:"conditions,omitempty"`
}

// ShortLivedTTL is the longest lifetime of a version that the inventory
// counts as a short-lived token even when its backend does not say so.
// Longer-lived versions that expire (a Key Vault secret with an expiry
// date) are keys with an expiry: their expiry is a rotation due date.
const ShortLivedTTL = 24 * time.Hour

// Inventory returns the inventory of the Set, sorted by name.
func (s *Set) Inventory() Inventory {
	now := s.o.clock.Now()
	inv := Inventory{Environment: s.o.environment, Generated: now, Credentials: make([]InventoryItem, 0, len(s.names))}
	s.mu.Lock()
	shared := s.shared
	s.mu.Unlock()
	for _, name := range s.names {
		inv.Credentials = append(inv.Credentials, s.item(name, now, shared[name]))
	}
	return inv
}

// Item returns the inventory row of the named credential, at the cost of
// that one row (a health check per credential uses it), and false when the
// Set has no credential by that name.
func (s *Set) Item(name string) (InventoryItem, bool) {
	if _, ok := s.creds[name]; !ok {
		return InventoryItem{}, false
	}
	s.mu.Lock()
	shared := s.shared[name]
	s.mu.Unlock()
	return s.item(name, s.o.clock.Now(), shared), true
}

// item builds one inventory row.
func (s *Set) item(name string, now time.Time, shared []string) InventoryItem {
	c := s.creds[name]
	st := c.Status()
	md := c.Metadata()
	desc := s.desc[name]
	it := InventoryItem{
		Name: name, Backend: s.schemes[name], Metadata: md, Status: st,
		Fingerprint: st.Fingerprint, SharedWith: shared,
		Revoked: st.Revoked, RevokeReason: st.RevokeReason, RotationEnabled: desc.RotationEnabled,
		Issuer: desc.Issuer, Subject: desc.Subject,
	}
	if !st.Expires.IsZero() {
		switch {
		case !st.VersionCreated.IsZero() && st.VersionCreated.Before(st.Expires):
			it.TTL = st.Expires.Sub(st.VersionCreated)
		case !st.Fetched.IsZero() && st.Fetched.Before(st.Expires):
			it.TTL = st.Expires.Sub(st.Fetched)
		}
	}
	it.ShortLived = md.ShortLived || it.TTL > 0 && it.TTL <= ShortLivedTTL
	md.ShortLived = it.ShortLived
	it.Metadata = md
	switch {
	case !desc.LastRotated.IsZero():
		it.LastRotated = desc.LastRotated
	case !st.VersionCreated.IsZero():
		it.LastRotated = st.VersionCreated
	case !st.LastRotated.IsZero():
		it.LastRotated = st.LastRotated
	default:
		it.LastRotated = st.Fetched
	}
	it.Expires = earliest(md.Expires, st.Expires)
	due := time.Time{}
	if md.RotationPeriod > 0 && !it.LastRotated.IsZero() {
		due = it.LastRotated.Add(md.RotationPeriod)
	}
	due = earliest(due, md.Expires)
	if !it.ShortLived {
		// A key's expiry and its backend's next rotation are deadlines to
		// rotate it by; a token's are not: it is replaced ahead of them,
		// by credkit, many times a day (a Vault lease's replacement at its
		// max TTL is such a date).
		due = earliest(due, desc.NextRotation)
		due = earliest(due, st.Expires)
	}
	it.RotationDue = due
	if !due.IsZero() {
		it.Overdue = !now.Before(due)
		it.DueSoon = !it.Overdue && due.Sub(now) <= s.o.reminderWindow
	}
	var me *credential.MetadataError
	if err := md.Validate(); errors.As(err, &me) {
		it.Findings = me.Problems
	}
	if cr, ok := c.p.(credential.ConditionReporter); ok {
		it.Conditions = cr.Conditions(c.ref)
	}
	return it
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
