package degrade

import (
	"github.com/credkit/credkit/health"
)

var (
	_ health.Reporter = (*Breaker)(nil)
	_ health.Reporter = (*Policy)(nil)
	_ health.Reporter = (*Pool)(nil)
)

// HealthResult reports the breaker's state to a health monitor: closed
// passes, half-open warns, open fails with "circuit open".
func (br *Breaker) HealthResult() health.Result {
	switch br.State() {
	case Open:
		return health.Failed("circuit open")
	case HalfOpen:
		return health.Warned("circuit half-open")
	}
	return health.Passed("circuit closed")
}

// HealthResult reports what live traffic says about the dependency: fail on
// an open breaker, a rejected credential or an exhausted quota; warn while
// the breaker is half-open; pass otherwise.
func (p *Policy) HealthResult() health.Result {
	s := p.Status()
	switch {
	case s.Credential == Rejected:
		return health.Failed("credential rejected")
	case s.Credential == Quota:
		return health.Failed("quota exhausted")
	case s.Breaker == Open:
		return health.Failed("circuit open")
	case s.Breaker == HalfOpen:
		return health.Warned("circuit half-open")
	}
	return health.Passed("")
}

// Checks returns the dependency's health checks for a [health.Monitor]:
// "<dependency>:circuit" (the breaker, absent with [WithoutBreaker]) and
// "<dependency>:traffic" (the credential and breaker as live traffic saw
// them, [Policy.HealthResult]).
func (p *Policy) Checks(critical bool) []health.Check {
	var cs []health.Check
	if p.br != nil {
		cs = append(cs, health.ReporterCheck(p.name, "circuit", p.br, critical))
	}
	return append(cs, health.ReporterCheck(p.name, "traffic", p, critical))
}

// HealthResult reports the pool: fail when every key is quarantined, warn
// when some are (or when every key is cooling after 429s), pass otherwise.
// The observed value is the number of keys ready.
func (p *Pool) HealthResult() health.Result {
	ks := p.Keys()
	ready, quarantined := 0, 0
	for _, k := range ks {
		switch k.Status {
		case KeyReady:
			ready++
		case KeyQuarantined:
			quarantined++
		}
	}
	var r health.Result
	switch {
	case quarantined == len(ks):
		r = health.Failed("every key quarantined")
	case quarantined > 0:
		r = health.Warned(itoa(quarantined) + " of " + itoa(len(ks)) + " keys quarantined")
	case ready == 0:
		r = health.Warned("every key rate limited")
	default:
		r = health.Passed("")
	}
	r.ObservedValue, r.ObservedUnit = ready, "keys ready"
	return r
}

type keyReporter struct {
	p    *Pool
	name string
}

func (k keyReporter) HealthResult() health.Result {
	for _, s := range k.p.Keys() {
		if s.Name != k.name {
			continue
		}
		switch s.Status {
		case KeyQuarantined:
			if s.Reason == Quota {
				return health.Failed("quota exhausted")
			}
			return health.Failed("credential rejected")
		case KeyCooling:
			return health.Warned("rate limited")
		}
		r := health.Passed("")
		r.ObservedValue, r.ObservedUnit = s.Uses, "requests"
		return r
	}
	return health.Failed("unknown key")
}

// Checks returns the pool's health checks for a [health.Monitor]:
// "<pool>:keys" ([Pool.HealthResult]), critical as given, and one
// non-critical "<key>:credential" check per key (a quarantined key fails, a
// cooling one warns), so that one revoked key of several shows on the
// health endpoint without failing readiness.
func (p *Pool) Checks(critical bool) []health.Check {
	cs := []health.Check{health.ReporterCheck(p.name, "keys", p, critical)}
	for _, k := range p.keys {
		cs = append(cs, health.ReporterCheck(k.cred.Name(), "credential", keyReporter{p, k.cred.Name()}, false))
	}
	return cs
}
