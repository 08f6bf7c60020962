package health

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/credkit/credkit/credential"
)

// sourceKey is the context key of WithSource.
type sourceKey struct{}

// WithSource returns ctx carrying the source of the requests made with it —
// the user, workflow or job on whose behalf the service calls an API
// ("user:42", "workflow:ticket-summary", "job:nightly-embed") — so the usage
// audit can say who used a credential. Use it on the request's context.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

// Source returns the source WithSource put in ctx, or "".
func Source(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// Counts are a credential's usage counters.
type Counts struct {
	Requests    int64 `json:"requests"`
	Denials     int64 `json:"denials"`      // 401 and 403
	RateLimited int64 `json:"rate_limited"` // 429
	Errors      int64 `json:"errors"`       // 5xx and transport errors
}

// Audit records every use of a credential made through a
// credential.Transport: plug Observe into Transport.Observe. For each use
// it knows the credential's name and fingerprint, the system (host), the
// action (method and path, without the query, which may hold a key), the
// source (from [WithSource]), the outcome and the latency; never the value.
//
// It keeps counters per credential (readable with Counts, exported through
// OpenTelemetry with [WithMeterProvider]), logs an audit event per use (or
// a summary per interval, [WithAggregation]), and watches for anomalies: a
// rate of use far above the credential's own recent baseline (runaway
// automation, a leaked key in use elsewhere), or a burst of denials (a
// revoked key). [Audit.Check] reports them to a Monitor.
//
// Why OpenTelemetry: it is the vendor-neutral metrics API most Go services
// already export through; depending on the API module only, with a no-op
// default, means a service without a meter provider pays one interface call
// per use and downloads no SDK.
type Audit struct {
	logger    *slog.Logger
	clock     credential.Clock
	every     time.Duration
	factor    float64
	minRate   int64
	denials   int64
	alpha     float64
	aggregate bool
	requests  metric.Int64Counter
	latency   metric.Float64Histogram

	mu    sync.Mutex
	creds map[string]*usage

	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the flusher returns; nil without one
	closing sync.Once
}

// usage is one credential's state.
type usage struct {
	counts   Counts
	window   time.Time // start of the current interval
	inWin    int64     // uses in the current interval
	deniedW  int64     // denials in the current interval
	baseline float64   // EWMA of uses per interval
	warmed   int       // intervals seen
	flagged  bool      // a rate anomaly was raised in the current interval
	anomaly  string    // current anomaly, "" when none
	anomalyT time.Time
	agg      map[string]int64 // "system action outcome" -> uses, for aggregation
}

// AuditOption configures an [Audit].
type AuditOption func(*Audit)

// WithAuditClock sets the clock (default credential.SystemClock).
func WithAuditClock(c credential.Clock) AuditOption {
	return func(a *Audit) { a.clock = credential.ClockOrSystem(c) }
}

// WithAggregation logs one summary per credential, system, action and
// outcome per interval instead of one event per use, for high-volume
// services. The interval is the anomaly interval ([WithAnomaly]); every, when
// positive, sets it. Summaries are written at the end of each interval by a
// background goroutine, also for a credential that is not used again, and
// what remains is written by [Audit.Close].
func WithAggregation(every time.Duration) AuditOption {
	return func(a *Audit) {
		a.aggregate = true
		if every > 0 {
			a.every = every
		}
	}
}

// WithAnomaly sets the anomaly rule: a credential's uses in one interval
// (interval, default 1 minute) over factor (default 5) times its
// exponentially weighted average, once it has at least minVolume uses
// (default 100) in the interval; or at least denials (default 10) denials
// in one interval.
func WithAnomaly(interval time.Duration, factor float64, minVolume, denials int64) AuditOption {
	return func(a *Audit) {
		if interval > 0 {
			a.every = interval
		}
		if factor > 1 {
			a.factor = factor
		}
		if minVolume > 0 {
			a.minRate = minVolume
		}
		if denials > 0 {
			a.denials = denials
		}
	}
}

// WithMeterProvider exports the counters through OpenTelemetry:
// credkit.credential.uses (by credential, system and outcome) and
// credkit.credential.latency (seconds). Default: a no-op provider.
func WithMeterProvider(mp metric.MeterProvider) AuditOption {
	return func(a *Audit) {
		m := mp.Meter("github.com/credkit/credkit/health")
		a.requests, _ = m.Int64Counter("credkit.credential.uses", metric.WithDescription("Uses of a credential through credential.Transport"))
		a.latency, _ = m.Float64Histogram("credkit.credential.latency", metric.WithUnit("s"), metric.WithDescription("Latency of requests made with a credential"))
	}
}

// NewAudit returns an Audit logging to logger (nil: no audit log, counters
// and anomalies only). Defaults: one event per use, 1-minute anomaly
// interval, factor 5, minimum volume 100, 10 denials. With
// [WithAggregation] and a logger it starts a goroutine that writes the
// summaries: call Close when done.
func NewAudit(logger *slog.Logger, opts ...AuditOption) *Audit {
	a := &Audit{
		logger: logger, clock: credential.SystemClock, every: time.Minute,
		factor: 5, minRate: 100, denials: 10, alpha: 0.3, creds: map[string]*usage{},
		stop: make(chan struct{}),
	}
	WithMeterProvider(noop.NewMeterProvider())(a)
	for _, o := range opts {
		o(a)
	}
	if a.logger != nil && a.aggregate {
		a.done = make(chan struct{})
		go a.flusher()
	}
	return a
}

// flusher closes every credential's interval when it ends, so summaries
// are written without waiting for the credential's next use.
func (a *Audit) flusher() {
	defer close(a.done)
	t := a.clock.NewTimer(a.every)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C():
			a.flush(false)
			t.Reset(a.every)
		}
	}
}

// flush writes the summaries of every interval that has ended, and with
// all also those of the intervals still open.
func (a *Audit) flush(all bool) {
	now := a.clock.Now()
	a.mu.Lock()
	names := make([]string, 0, len(a.creds))
	for name := range a.creds {
		names = append(names, name)
	}
	sort.Strings(names)
	var summaries [][]any
	for _, name := range names {
		us := a.creds[name]
		summaries = append(summaries, a.roll(name, us, now)...)
		if all {
			summaries = append(summaries, a.summaries(name, us)...)
		}
	}
	a.mu.Unlock()
	for _, s := range summaries {
		a.logger.Info("credkit: credential usage summary", s...)
	}
}

// Close writes the aggregated summaries still open and stops the
// goroutine [WithAggregation] started. It is idempotent; Observe after
// Close still counts but writes no more summaries on its own.
func (a *Audit) Close() error {
	a.closing.Do(func() {
		close(a.stop)
		if a.done != nil {
			<-a.done
			a.flush(true)
		}
	})
	return nil
}

// outcome names a use's outcome.
func outcome(u credential.Use) string {
	if u.Err != nil {
		return "error"
	}
	switch ClassifyHTTP(u.StatusCode, nil) {
	case Rejected:
		return "denied"
	case RateLimited:
		return "rate_limited"
	case Unavailable:
		return "error"
	case ClientError:
		return "client_error"
	}
	return "ok"
}

// Observe records one use. Plug it into credential.Transport.Observe.
func (a *Audit) Observe(u credential.Use) {
	out := outcome(u)
	system, action := "", ""
	var ctx context.Context = context.Background()
	if u.Request != nil {
		ctx = u.Request.Context()
		system = u.Request.URL.Host
		action = u.Request.Method + " " + u.Request.URL.Path
	}
	now := a.clock.Now()
	a.mu.Lock()
	us := a.creds[u.Credential]
	if us == nil {
		us = &usage{window: now, agg: map[string]int64{}}
		a.creds[u.Credential] = us
	}
	summaries := a.roll(u.Credential, us, now)
	us.counts.Requests++
	us.inWin++
	switch out {
	case "denied":
		us.counts.Denials++
		us.deniedW++
	case "rate_limited":
		us.counts.RateLimited++
	case "error":
		us.counts.Errors++
	}
	aggregated := a.logger != nil && a.aggregate
	if aggregated {
		us.agg[system+" "+action+" "+out]++
	}
	alert := a.detect(us, now)
	a.mu.Unlock()

	attrs := metric.WithAttributes(attribute.String("credential", u.Credential), attribute.String("system", system), attribute.String("outcome", out))
	a.requests.Add(ctx, 1, attrs)
	a.latency.Record(ctx, u.Duration.Seconds(), attrs)

	if a.logger != nil {
		for _, s := range summaries {
			a.logger.Info("credkit: credential usage summary", s...)
		}
		if !aggregated {
			a.logger.LogAttrs(ctx, slog.LevelInfo, "credkit: credential used",
				slog.String("credential", u.Credential), slog.String("fingerprint", u.Fingerprint),
				slog.String("system", system), slog.String("action", action), slog.String("source", Source(ctx)),
				slog.String("outcome", out), slog.Int("status", u.StatusCode), slog.Duration("latency", u.Duration),
				slog.Int("attempt", u.Attempt))
		}
	}
	if alert != "" && a.logger != nil {
		a.logger.Warn("credkit: credential usage anomaly", "credential", u.Credential, "anomaly", alert)
	}
}

// roll closes the current interval when it has passed, updating the
// baseline and producing aggregated summaries. a.mu is held.
func (a *Audit) roll(name string, us *usage, now time.Time) [][]any {
	if now.Sub(us.window) < a.every {
		return nil
	}
	out := a.summaries(name, us)
	// Intervals with no use count as zero.
	n := int(now.Sub(us.window) / a.every)
	for i := 0; i < n; i++ {
		v := float64(0)
		if i == 0 {
			v = float64(us.inWin)
		}
		if us.warmed == 0 {
			us.baseline = v
		} else {
			us.baseline = a.alpha*v + (1-a.alpha)*us.baseline
		}
		us.warmed++
	}
	us.window = us.window.Add(time.Duration(n) * a.every)
	us.inWin, us.deniedW, us.flagged = 0, 0, false
	if now.Sub(us.anomalyT) >= 10*a.every {
		us.anomaly = ""
	}
	return out
}

// summaries returns the aggregated uses of the current interval and
// clears them. a.mu is held.
func (a *Audit) summaries(name string, us *usage) [][]any {
	if len(us.agg) == 0 {
		return nil
	}
	keys := make([]string, 0, len(us.agg))
	for k := range us.agg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, []any{"credential", name, "use", k, "count", us.agg[k], "interval", a.every})
	}
	us.agg = map[string]int64{}
	return out
}

// detect updates the credential's anomaly; it returns a new anomaly's text
// to log. a.mu is held.
func (a *Audit) detect(us *usage, now time.Time) string {
	var found string
	switch {
	case us.deniedW == a.denials:
		found = strconv.FormatInt(us.deniedW, 10) + " denials within " + a.every.String()
	case !us.flagged && us.warmed >= 3 && us.inWin >= a.minRate && float64(us.inWin) > a.factor*us.baseline:
		us.flagged = true
		found = strconv.FormatInt(us.inWin, 10) + " uses within " + a.every.String() + ", over " +
			strconv.FormatFloat(a.factor, 'f', -1, 64) + "x the baseline of " + strconv.FormatFloat(us.baseline, 'f', 1, 64)
	}
	if found == "" {
		return ""
	}
	us.anomaly, us.anomalyT = found, now
	return found
}

// Counts returns the counters of every credential seen, by name.
func (a *Audit) Counts() map[string]Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]Counts, len(a.creds))
	for k, v := range a.creds {
		out[k] = v.counts
	}
	return out
}

// Check reports anomalies to a Monitor: it warns while a credential shows
// an anomaly (for ten intervals after the last one) and passes otherwise.
// It is not critical: an anomaly is a reason to look, not to stop serving.
func (a *Audit) Check() Check {
	return Check{
		Name: "credential-usage", Component: "credentials", Measurement: "usage", ComponentType: "component",
		Interval: 15 * time.Second,
		Run: func(context.Context) Result {
			now := a.clock.Now()
			a.mu.Lock()
			defer a.mu.Unlock()
			var msgs []string
			for name, us := range a.creds {
				if us.anomaly != "" && now.Sub(us.anomalyT) < 10*a.every {
					msgs = append(msgs, name+": "+us.anomaly)
				}
			}
			if len(msgs) == 0 {
				return Passed("usage within baseline")
			}
			sort.Strings(msgs)
			return Result{Status: Warn, Output: joinShort(msgs), ObservedValue: len(msgs), ObservedUnit: "credentials"}
		},
	}
}

func joinShort(s []string) string {
	out := ""
	for i, m := range s {
		if i > 0 {
			out += "; "
		}
		out += m
	}
	return out
}
