package gcp

import (
	"context"
	"sort"
	"time"

	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/credkit/credkit/credential"
)

// Condition is a problem the provider works around, reported through
// [Provider.Conditions], the condition hook ([WithConditionHook]) and the
// log: today, a "latest" version that is disabled or destroyed. It holds
// names and version numbers, never a value.
type Condition struct {
	// Ref is the ref being fetched; Secret the secret's full name.
	Ref    string
	Secret string
	// Latest is the latest version's number and LatestState its state
	// ("DISABLED" or "DESTROYED"); empty when they could not be read.
	Latest      string
	LatestState string
	// Served is the enabled version served instead; empty when none is.
	Served string
	// Revoked: the provider fails the fetch with ErrRevoked
	// ([WithDisabledLatestRevokes]).
	Revoked bool
	// Since is when the provider first saw the condition.
	Since time.Time
	// Resolved is set on the hook's call when the condition ends (latest
	// is readable again).
	Resolved bool
}

// AllConditions returns the conditions in effect, sorted by ref; they end
// when "latest" can be read again. A rotate.Set reads each credential's
// through [Provider.Conditions]: its inventory lists them and
// health.SetChecks warns on them.
func (p *Provider) AllConditions() []Condition {
	p.mu.Lock()
	out := make([]Condition, 0, len(p.conds))
	for _, c := range p.conds {
		out = append(out, c)
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out
}

// Conditions implements credential.ConditionReporter: for a ref whose
// latest version is disabled or destroyed, one text naming the latest
// version, its state and the version served instead (never a value).
func (p *Provider) Conditions(ref string) []string {
	c, ok := p.condition(ref)
	if !ok || c.Resolved {
		return nil
	}
	latest := "the latest version"
	if c.Latest != "" {
		latest += " (" + c.Latest + ")"
	}
	state := c.LatestState
	if state == "" {
		state = "DISABLED or DESTROYED"
	}
	switch {
	case c.Revoked:
		return []string{latest + " is " + state + ": revoked"}
	case c.Served != "":
		return []string{latest + " is " + state + "; serving version " + c.Served}
	}
	return []string{latest + " is " + state + "; no enabled version to serve"}
}

func (p *Provider) condition(refStr string) (Condition, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.conds[refStr]
	return c, ok
}

// report records c, and logs it and calls the hook when it is new or
// changed.
func (p *Provider) report(c Condition) {
	p.mu.Lock()
	old, ok := p.conds[c.Ref]
	if ok {
		c.Since = old.Since
	}
	changed := !ok || old != c
	p.conds[c.Ref] = c
	p.mu.Unlock()
	if !changed {
		return
	}
	if c.Revoked {
		p.logger.Error("credkit: the latest version of a secret is disabled or destroyed; the credential is revoked",
			"secret", c.Secret, "latest_version", c.Latest, "state", c.LatestState)
	} else {
		p.logger.Warn("credkit: the latest version of a secret is disabled or destroyed; serving the newest enabled version",
			"secret", c.Secret, "latest_version", c.Latest, "state", c.LatestState, "served_version", c.Served)
	}
	if p.onCond != nil {
		p.onCond(c)
	}
}

// clear ends the condition of refStr, if any.
func (p *Provider) clear(refStr string, r ref) {
	p.mu.Lock()
	c, ok := p.conds[refStr]
	delete(p.conds, refStr)
	delete(p.fallbacks, r.secret)
	p.mu.Unlock()
	if !ok {
		return
	}
	p.logger.Info("credkit: the latest version of a secret is readable again", "secret", c.Secret)
	if p.onCond != nil {
		c.Resolved = true
		p.onCond(c)
	}
}

// Describe returns the secret's labels and annotations as metadata (see
// [MetadataNames]; every label and annotation lands in Metadata.Tags,
// annotations winning a clash), its next_rotation_time, and its
// expire_time as Metadata.Expires (the day the service deletes the whole
// secret; it does not expire a version). It calls GetSecret once per
// secret and provider and remembers the answer, since metadata reads draw
// on the 600 a minute quota: rotate calls it once, at open, never per
// poll. Under [WithoutDescribe] it returns an empty description without a
// call.
func (p *Provider) Describe(ctx context.Context, refStr string) (credential.Description, error) {
	r, err := parseRef("describe", refStr)
	if err != nil {
		return credential.Description{}, err
	}
	if !p.describe {
		return credential.Description{}, nil
	}
	p.mu.Lock()
	d, ok := p.descs[r.secret]
	p.mu.Unlock()
	if ok {
		return cloneDesc(d), nil
	}
	s, err := p.c.GetSecret(ctx, &smpb.GetSecretRequest{Name: r.secret}, p.callOpts...)
	if err != nil {
		return credential.Description{}, mapErr(ctx, "describe", refStr, err)
	}
	d = p.description(s)
	p.mu.Lock()
	p.descs[r.secret] = d
	p.mu.Unlock()
	return cloneDesc(d), nil
}

func (p *Provider) description(s *smpb.Secret) credential.Description {
	var d credential.Description
	tags := map[string]string{}
	for k, v := range s.GetLabels() {
		tags[k] = v
	}
	for k, v := range s.GetAnnotations() {
		tags[k] = v
	}
	if len(tags) > 0 {
		d.Metadata.Tags = tags
	}
	pick := func(key string) string {
		if key == "" {
			return ""
		}
		if v, ok := s.GetAnnotations()[key]; ok {
			return v
		}
		return s.GetLabels()[key]
	}
	d.Metadata.Owner = pick(p.names.Owner)
	d.Metadata.Purpose = pick(p.names.Purpose)
	d.Metadata.Environment = pick(p.names.Environment)
	d.Metadata.System = pick(p.names.System)
	if t := s.GetExpireTime(); t != nil {
		d.Metadata.Expires = t.AsTime()
	}
	if rot := s.GetRotation(); rot.GetNextRotationTime() != nil {
		d.RotationEnabled = true
		d.NextRotation = rot.GetNextRotationTime().AsTime()
	}
	return d
}

func cloneDesc(d credential.Description) credential.Description {
	if d.Metadata.Tags != nil {
		t := make(map[string]string, len(d.Metadata.Tags))
		for k, v := range d.Metadata.Tags {
			t[k] = v
		}
		d.Metadata.Tags = t
	}
	return d
}
