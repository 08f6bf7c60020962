package health

import (
	"context"
	"time"

	"github.com/credkit/credkit/credential"
)

// Status is a check's state, in the words of the IETF health check response
// format.
type Status string

const (
	// Pass: healthy.
	Pass Status = "pass"
	// Warn: healthy, with a concern (rate limited, rotation due, a refresh
	// just failed).
	Warn Status = "warn"
	// Fail: unhealthy.
	Fail Status = "fail"
	// Pending: the check has not run yet. Readiness treats a pending critical
	// check as failing; the JSON reports it as "warn".
	Pending Status = "pending"
)

// Result is the outcome of one run of a check.
type Result struct {
	Status Status
	// Output says what is wrong, for a person. It must never hold a secret
	// value: write it from an error's kind ([FromError]), not its text. The
	// handler also passes it through the monitor's sanitizer.
	Output string
	// ObservedValue and ObservedUnit report a measurement ("ms", "days",
	// "failures").
	ObservedValue any
	ObservedUnit  string
	// Time is when the check ran; Duration how long it took. The monitor
	// sets both.
	Time     time.Time
	Duration time.Duration
}

// Check is a named probe the [Monitor] runs on its own interval.
type Check struct {
	// Name identifies the check; it must be unique in a monitor. The JSON
	// key is "Component:Measurement" (Name when both are empty).
	Name        string
	Component   string // componentId: "openai", "pinecone"
	Measurement string // "credential", "responseTime", "circuit"
	// ComponentType is the IETF componentType: "component", "datastore",
	// "system", or a URI.
	ComponentType string
	// Critical checks decide readiness; others only report.
	Critical bool
	// Interval between runs (default 30 s) and Timeout of one run (default
	// 10 s, at most Interval).
	Interval time.Duration
	Timeout  time.Duration
	// Run performs the check. It must honour ctx. A panic is reported as a
	// failure and the monitor lives on.
	Run func(ctx context.Context) Result
}

// key returns the check's JSON key.
func (c Check) key() string {
	switch {
	case c.Component != "" && c.Measurement != "":
		return c.Component + ":" + c.Measurement
	case c.Component != "":
		return c.Component
	}
	return c.Name
}

// Passed returns a passing result with output.
func Passed(output string) Result { return Result{Status: Pass, Output: output} }

// Warned returns a warning result with output.
func Warned(output string) Result { return Result{Status: Warn, Output: output} }

// Failed returns a failing result with output.
func Failed(output string) Result { return Result{Status: Fail, Output: output} }

// FromError returns Pass for nil, and otherwise a failure whose output is
// the error's kind ("unavailable", "permission"...), never its text, which
// may come from a third party and hold a value.
func FromError(err error) Result {
	if err == nil {
		return Result{Status: Pass}
	}
	return Result{Status: Fail, Output: credential.KindName(err)}
}

// Func builds a check from a function, with the defaults.
func Func(name string, critical bool, run func(ctx context.Context) Result) Check {
	return Check{Name: name, Component: name, Critical: critical, Run: run}
}
