package credential

import (
	"encoding/json"

	"strings"
	"time"
)

// Metadata describes a credential for the people who answer for it: who owns
// it, what it is for, where it may be used, what it unlocks, how often it must
// be rotated. It holds no value. The rotate package's inventory reports it,
// and its environment guard enforces Environment.
type Metadata struct {
	// Name is the credential's name in the application ("openai").
	Name string `json:"name"`
	// Owner is the person or team responsible ("team-ml@example.com").
	Owner string `json:"owner,omitempty"`
	// Purpose says why the application holds it ("chat completions for support bot").
	Purpose string `json:"purpose,omitempty"`
	// Environment is where it may be used: "production", "staging", "development"...
	Environment string `json:"environment,omitempty"`
	// System is the API or service it unlocks ("api.openai.com", "pinecone").
	System string `json:"system,omitempty"`
	// Scopes are the permissions it carries, as the system names them.
	Scopes []string `json:"scopes,omitempty"`
	// RotationPeriod is how often it must be rotated; zero when no policy is set.
	RotationPeriod time.Duration `json:"-"`
	// ShortLived marks a credential minted on demand (an OAuth 2.0 token, a
	// cloud workload identity token, a Bedrock short-term key, a Vault
	// lease): each version is a token with its own expiry, replaced ahead
	// of it, so the credential has no rotation period of its own (the
	// identity that mints it has). Backends that mint set it in their
	// [Description]; the rotate package's inventory also sets it for a
	// version that lives a day or less.
	ShortLived bool `json:"short_lived,omitempty"`
	// Expires is when the credential itself lapses (not a version of it);
	// zero when unknown or never.
	Expires time.Time `json:"expires,omitzero"`
	// Tags are free-form labels.
	Tags map[string]string `json:"tags,omitempty"`
}

// MarshalJSON encodes RotationPeriod as a Go duration string ("720h0m0s")
// under "rotation_period".
func (m Metadata) MarshalJSON() ([]byte, error) {
	type plain Metadata
	return json.Marshal(struct {
		plain
		RotationPeriod string `json:"rotation_period,omitempty"`
	}{plain(m), durationString(m.RotationPeriod)})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	type plain Metadata
	var v struct {
		plain
		RotationPeriod string `json:"rotation_period"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = Metadata(v.plain)
	if v.RotationPeriod != "" {
		d, err := time.ParseDuration(v.RotationPeriod)
		if err != nil {
			return &Error{Op: "decode", Name: m.Name, Kind: ErrInvalid, Reason: "rotation_period is not a duration"}
		}
		m.RotationPeriod = d
	}
	return nil
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// Merge returns m with every empty field filled from o, and ShortLived set
// when either is. It combines metadata
// written in a config with what a backend reports (tags).
func (m Metadata) Merge(o Metadata) Metadata {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&m.Name, o.Name)
	fill(&m.Owner, o.Owner)
	fill(&m.Purpose, o.Purpose)
	fill(&m.Environment, o.Environment)
	fill(&m.System, o.System)
	if len(m.Scopes) == 0 {
		m.Scopes = o.Scopes
	}
	if m.RotationPeriod == 0 {
		m.RotationPeriod = o.RotationPeriod
	}
	if m.Expires.IsZero() {
		m.Expires = o.Expires
	}
	m.ShortLived = m.ShortLived || o.ShortLived
	if len(o.Tags) > 0 {
		tags := make(map[string]string, len(m.Tags)+len(o.Tags))
		for k, v := range o.Tags {
			tags[k] = v
		}
		for k, v := range m.Tags {
			tags[k] = v
		}
		m.Tags = tags
	}
	return m
}

// broadScopes are scope names a reviewer flags as over-privileged for an AI
// integration without a reviewed reason.
var broadScopes = map[string]bool{
	"*": true, "all": true, "admin": true, "root": true, "owner": true,
	"full_access": true, "full-access": true, "write:*": true, "read:*": true,
}

// MaxRotationPeriod is the longest RotationPeriod [Metadata.Validate] accepts
// without a finding.
const MaxRotationPeriod = 365 * 24 * time.Hour

// Validate reports what a security reviewer would flag: no owner, no purpose,
// no environment, no system, a broad (admin or wildcard) scope, no rotation
// period (unless ShortLived: a minted token is replaced ahead of its own
// expiry), or one longer than [MaxRotationPeriod]. It returns nil when there is
// nothing to flag, or a *[MetadataError] listing every finding, which
// errors.Is matches against [ErrInvalid].
func (m Metadata) Validate() error {
	var p []string
	if strings.TrimSpace(m.Owner) == "" {
		p = append(p, "no owner")
	}
	if strings.TrimSpace(m.Purpose) == "" {
		p = append(p, "no purpose")
	}
	if strings.TrimSpace(m.Environment) == "" {
		p = append(p, "no environment")
	}
	if strings.TrimSpace(m.System) == "" {
		p = append(p, "no system")
	}
	for _, s := range m.Scopes {
		if broadScopes[strings.ToLower(strings.TrimSpace(s))] {
			p = append(p, "broad scope "+quote(s))
		}
	}
	switch {
	case m.RotationPeriod == 0 && !m.ShortLived:
		p = append(p, "no rotation period")
	case m.RotationPeriod < 0:
		p = append(p, "negative rotation period")
	case m.RotationPeriod > MaxRotationPeriod:
		p = append(p, "rotation period over a year")
	}
	if len(p) == 0 {
		return nil
	}
	return &MetadataError{Name: m.Name, Problems: p}
}

func quote(s string) string { return `"` + s + `"` }

// MetadataError lists the findings of [Metadata.Validate].
type MetadataError struct {
	Name     string
	Problems []string
}

// Error returns "credential NAME: invalid metadata: PROBLEM, PROBLEM".
func (e *MetadataError) Error() string {
	n := e.Name
	if n == "" {
		n = "(unnamed)"
	}
	return "credential " + n + ": invalid metadata: " + strings.Join(e.Problems, ", ")
}

// Is matches [ErrInvalid].
func (e *MetadataError) Is(target error) bool { return target == ErrInvalid }
