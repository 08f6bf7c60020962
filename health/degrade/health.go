package degrade

import (
	"github.com/credkit/credkit/health"
)

var (
	_ health.Reporter = (*Breaker)(nil)
	_ health.Reporter = (*Policy)(nil)
)

// Readiness says whether a dependency's state decides the replica's
// readiness (/readyz) or only shows on the health endpoint.
type Readiness int

const (
	// Shared is for an upstream every replica shares: a model provider, a
	// hosted embedding API, a managed vector database. Its open breaker
	// warns and its checks are not critical: when the provider is
	// overloaded every replica's breaker opens at once, and taking every
	// replica out of the load balancer would turn degraded answers
	// (fallbacks, caches, queues) into no answers at all. A rejected
	// credential or an exhausted quota still fails the check, for people
	// and alerts to see, without deciding readiness.
	Shared Readiness = iota
	// Critical is for a dependency a replica cannot serve without, and whose
	// failure is the replica's own: a sidecar, a per-replica credential, a
	// database only this replica talks to. Its open breaker fails the check
	// and the check is critical, so /readyz answers 503 and the load
	// balancer moves traffic to replicas that can serve.
	Critical
)

// HealthResult reports the breaker's state to a health monitor: closed
// passes, half-open warns, open fails with "circuit open". ([Policy.Checks]
// with [Shared] turns the open breaker into a warning.)
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

// shared reports a breaker's or policy's result with an open breaker turned
// into a warning.
type shared struct{ r health.Reporter }

func (s shared) HealthResult() health.Result {
	r := s.r.HealthResult()
	if r.Status == health.Fail && r.Output == "circuit open" {
		r.Status = health.Warn
	}
	return r
}

// Checks returns the dependency's health checks for a [health.Monitor]:
// "<dependency>:circuit" (the breaker, absent with [WithoutBreaker]) and
// "<dependency>:traffic" (the credential and the breaker as live traffic
// saw them, [Policy.HealthResult]). With [Shared] (the right choice for a
// model provider) an open breaker warns and neither check decides
// readiness; with [Critical] an open breaker fails and both checks decide
// it.
func (p *Policy) Checks(r Readiness) []health.Check {
	critical := r == Critical
	wrap := func(rep health.Reporter) health.Reporter {
		if critical {
			return rep
		}
		return shared{rep}
	}
	var cs []health.Check
	if p.br != nil {
		cs = append(cs, health.ReporterCheck(p.name, "circuit", wrap(p.br), critical))
	}
	return append(cs, health.ReporterCheck(p.name, "traffic", wrap(p), critical))
}
