package keypool

import (
	"strconv"

	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/health/degrade"
)

var _ health.Reporter = (*Pool)(nil)

// HealthResult reports the pool: fail when every key is quarantined, warn
// when some are (or when every key is cooling), pass otherwise. The
// observed value is the number of keys ready.
func (p *Pool) HealthResult() health.Result {
	ks := p.Keys()
	ready, quarantined := 0, 0
	for _, k := range ks {
		switch k.Status {
		case Ready:
			ready++
		case Quarantined:
			quarantined++
		}
	}
	var r health.Result
	switch {
	case quarantined == len(ks):
		r = health.Failed("every key quarantined")
	case quarantined > 0:
		r = health.Warned(strconv.Itoa(quarantined) + " of " + strconv.Itoa(len(ks)) + " keys quarantined")
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
		case Quarantined:
			if s.Reason == degrade.Quota {
				return health.Failed("quota exhausted")
			}
			return health.Failed("credential rejected")
		case Cooling:
			return health.Warned("rate limited")
		}
		r := health.Passed("")
		r.ObservedValue, r.ObservedUnit = s.Uses, "requests"
		return r
	}
	return health.Failed("unknown key")
}

// Checks returns the pool's health checks for a [health.Monitor]:
// "<pool>:keys" ([Pool.HealthResult]) and one "<key>:credential" check per
// key (a quarantined key fails, a cooling one warns). None of them decides
// readiness unless r is [degrade.Critical]: then "<pool>:keys" does (every
// key quarantined fails /readyz). The per-key checks never do, so one
// revoked key of several shows on the health endpoint without failing
// readiness.
func (p *Pool) Checks(r degrade.Readiness) []health.Check {
	cs := []health.Check{health.ReporterCheck(p.name, "keys", p, r == degrade.Critical)}
	for _, k := range p.keys {
		cs = append(cs, health.ReporterCheck(k.cred.Name(), "credential", keyReporter{p, k.cred.Name()}, false))
	}
	return cs
}
