package aws

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/credkit/credkit/credential"
)

// Events receives Secrets Manager's change events from an SQS queue and
// pushes them to the credentials that watch the changed secrets: a
// rotation reaches every replica in the time EventBridge and SQS take to
// deliver it, instead of up to a poll interval.
//
// Secrets Manager publishes a native "Secret Label Updated" event to the
// default EventBridge bus whenever a staging label other than AWSPENDING and
// AWSPREVIOUS moves to a new version (free, on by default). An EventBridge
// rule routes those events to an SQS queue that Events long-polls. Each
// replica needs its own queue: an SQS queue is a work queue, so replicas
// sharing one would split the events between them. Fan out with one rule
// target per queue or with an SNS topic that every replica's queue
// subscribes to (raw message delivery on or off: both are understood). The
// package README has the rule, the fan-out and the IAM policy of each.
//
// Events also understands the "AWS API Call via CloudTrail" events of
// Secrets Manager (DeleteSecret, RestoreSecret, UpdateSecretVersionStage,
// PutSecretValue, RotateSecret, ...) when a rule routes them too; they push
// a check of every ref of that secret, which is how a deletion reaches the
// fleet at once.
//
// A message is deleted only after it was handled: the credentials it names
// were notified. A malformed or foreign message is logged (its ID and what
// was wrong, never its body) and deleted, never retried forever. While the
// queue cannot be read, Events backs off with jitter and reports itself
// unhealthy ([Events.PushHealthy]), and the credentials go on polling at
// their normal interval; while it is read, rotate polls them only at its
// slow safety interval (rotate.WithSafetyInterval, 15 minutes by default).
//
// Attach Events to a provider with [Provider.WithEvents] or, for URLs, with
// [WithEventQueue]. Close it when done. It is safe for concurrent use.
type Events struct {
	c        *sqs.Client
	queueURL string
	logger   *slog.Logger
	clock    credential.Clock
	wait     int32
	backoff  [2]time.Duration

	mu    sync.Mutex
	subs  map[*eventSub]struct{}
	hints map[string]hint // ref -> the version the event that notified it named, until the check it triggers

	healthy  atomic.Bool
	received atomic.Int64 // messages handled
	dropped  atomic.Int64 // malformed or foreign messages dropped

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

type eventSub struct {
	ref             string
	name, id, label string // name and id (name or ARN) of the secret; the label it follows
	changed         func()
	stopped         bool
	running         sync.WaitGroup
}

type hint struct {
	version string
	at      time.Time
}

// hintTTL bounds how long an event's version stands in for a
// DescribeSecret: long enough for the check the event triggers.
const hintTTL = time.Minute

// EventsOption configures [NewEvents].
type EventsOption func(*Events)

// WithEventsLogger logs queue failures, recoveries and dropped messages
// (default: nowhere).
func WithEventsLogger(l *slog.Logger) EventsOption {
	return func(e *Events) {
		if l != nil {
			e.logger = l
		}
	}
}

// WithEventsClock sets the clock of the backoff between failed receives
// (default: the system clock).
func WithEventsClock(c credential.Clock) EventsOption {
	return func(e *Events) { e.clock = credential.ClockOrSystem(c) }
}

// WithWaitTime sets the long-poll wait of each ReceiveMessage, 1 to 20
// seconds (default 20, the most SQS allows, the fewest calls).
func WithWaitTime(d time.Duration) EventsOption {
	return func(e *Events) {
		s := int32(d / time.Second)
		e.wait = min(max(s, 1), 20)
	}
}

// WithReceiveBackoff sets the backoff after a failed receive: full jitter
// from base, doubling up to max (default 1 s to 1 min).
func WithReceiveBackoff(base, max time.Duration) EventsOption {
	return func(e *Events) {
		if base > 0 && max >= base {
			e.backoff = [2]time.Duration{base, max}
		}
	}
}

// NewEvents starts receiving from the queue at queueURL with c and returns
// the receiver. c needs sqs:ReceiveMessage and sqs:DeleteMessage on the
// queue.
func NewEvents(c *sqs.Client, queueURL string, opts ...EventsOption) *Events {
	ctx, cancel := context.WithCancel(context.Background())
	e := &Events{
		c: c, queueURL: queueURL, logger: slog.New(slog.DiscardHandler), clock: credential.SystemClock,
		wait: 20, backoff: [2]time.Duration{time.Second, time.Minute},
		subs: map[*eventSub]struct{}{}, hints: map[string]hint{},
		cancel: cancel, done: make(chan struct{}),
	}
	for _, o := range opts {
		o(e)
	}
	go e.loop(ctx)
	return e
}

// Close stops receiving: it cancels the long poll in flight and waits for
// the receiver to stop. It is safe to call more than once.
func (e *Events) Close() error {
	e.once.Do(func() {
		e.cancel()
		<-e.done
		e.healthy.Store(false)
	})
	return nil
}

// PushHealthy reports whether the last receive from the queue succeeded:
// while it does, a watcher may poll at a slow safety interval.
func (e *Events) PushHealthy() bool { return e.healthy.Load() }

// EventStats are counters of an [Events] receiver.
type EventStats struct {
	Handled int64 // messages handled and deleted
	Dropped int64 // malformed or foreign messages dropped (and deleted)
}

// Stats returns the receiver's counters.
func (e *Events) Stats() EventStats {
	return EventStats{Handled: e.received.Load(), Dropped: e.dropped.Load()}
}

func (e *Events) loop(ctx context.Context) {
	defer close(e.done)
	failures := 0
	for {
		out, err := e.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: e.wait,
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			if e.healthy.Swap(false) || failures == 1 {
				e.logger.Warn("credkit: secret event queue cannot be read; credentials poll at their normal interval",
					"queue", e.queueURL, "error_kind", credential.KindName(mapErr("receive", "", err)), "cause", errText(err))
			}
			d := e.backoff[0] << min(failures-1, 16)
			if d <= 0 || d > e.backoff[1] {
				d = e.backoff[1]
			}
			t := e.clock.NewTimer(time.Duration(rand.Int64N(int64(d)) + 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
			continue
		}
		if !e.healthy.Swap(true) && failures > 0 {
			e.logger.Info("credkit: secret event queue readable again", "queue", e.queueURL, "after_failures", failures)
		}
		failures = 0
		for _, m := range out.Messages {
			e.handle(m)
			// Deleted only now that it was handled. A failed delete means a
			// redelivery: one spurious check, harmless.
			if _, err := e.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil && ctx.Err() == nil {
				e.logger.Warn("credkit: could not delete a handled secret event", "message_id", aws.ToString(m.MessageId), "cause", errText(err))
			}
		}
	}
}

// errText is an SDK error's text: AWS's codes and messages about queues
// and requests, never a secret value (Events reads none).
func errText(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// secretEvent is what Events reads of an EventBridge event.
type secretEvent struct {
	Source     string   `json:"source"`
	DetailType string   `json:"detail-type"`
	Resources  []string `json:"resources"`
	Detail     struct {
		// Secret Label Updated
		Name         string `json:"name"`
		LabelUpdated string `json:"labelUpdated"`
		VersionID    string `json:"versionId"`
		// AWS API Call via CloudTrail
		EventSource       string `json:"eventSource"`
		EventName         string `json:"eventName"`
		RequestParameters struct {
			SecretID string `json:"secretId"`
			Name     string `json:"name"`
		} `json:"requestParameters"`
	} `json:"detail"`
}

// maxEventBody bounds what Events parses: EventBridge events are at most
// 256 KiB, and Secrets Manager's are a few hundred bytes.
const maxEventBody = 256 << 10

func (e *Events) handle(m sqstypes.Message) {
	id := aws.ToString(m.MessageId)
	drop := func(why string) {
		e.dropped.Add(1)
		e.logger.Warn("credkit: dropped a message that is not a Secrets Manager event", "message_id", id, "reason", why)
	}
	body := aws.ToString(m.Body)
	if len(body) > maxEventBody {
		drop("body over 256 KiB")
		return
	}
	var env struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		drop("body is not JSON")
		return
	}
	if env.Type == "Notification" && env.Message != "" { // an SNS envelope
		body = env.Message
	}
	var ev secretEvent
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		drop("event is not JSON")
		return
	}
	if ev.Source != "aws.secretsmanager" {
		drop("source is not aws.secretsmanager")
		return
	}
	switch ev.DetailType {
	case "Secret Label Updated":
		if ev.Detail.Name == "" || ev.Detail.LabelUpdated == "" || ev.Detail.VersionID == "" {
			drop("Secret Label Updated without name, label or version")
			return
		}
		arn := ""
		if len(ev.Resources) > 0 {
			arn = ev.Resources[0]
		}
		e.received.Add(1)
		e.notify(ev.Detail.Name, arn, ev.Detail.LabelUpdated, ev.Detail.VersionID)
	case "AWS API Call via CloudTrail":
		sid := ev.Detail.RequestParameters.SecretID
		if sid == "" {
			sid = ev.Detail.RequestParameters.Name
		}
		if ev.Detail.EventSource != "secretsmanager.amazonaws.com" || sid == "" {
			drop("CloudTrail event without a Secrets Manager secret")
			return
		}
		e.received.Add(1)
		name := ref{id: sid}.name()
		e.notify(name, sid, "", "")
	default:
		drop("unknown detail-type")
	}
}

// notify calls every subscriber of the secret (name, or its ARN) that
// follows label ("" for all), after recording the version as a hint for
// the check that follows. No lock is held while subscribers run.
func (e *Events) notify(name, arn, label, version string) {
	var call []*eventSub
	e.mu.Lock()
	now := e.clock.Now()
	for s := range e.subs {
		if s.stopped || (s.name != name && (arn == "" || s.id != arn)) || (label != "" && s.label != label) {
			continue
		}
		if version != "" {
			e.hints[s.ref] = hint{version: version, at: now}
		} else {
			delete(e.hints, s.ref)
		}
		s.running.Add(1)
		call = append(call, s)
	}
	e.mu.Unlock()
	for _, s := range call {
		func() {
			defer s.running.Done()
			defer func() { recover() }() // a subscriber's panic must not stop the receiver
			s.changed()
		}()
	}
}

// subscribe implements credential.Notifier for a ref of the attached
// provider.
func (e *Events) subscribe(refStr string, changed func()) (func(), error) {
	r, err := parseRef(refStr)
	if err != nil {
		return nil, err
	}
	if r.version != "" {
		// A pinned version never changes; nothing to push.
		return func() {}, nil
	}
	s := &eventSub{ref: refStr, name: r.name(), id: r.id, label: r.stageOrCurrent(), changed: changed}
	e.mu.Lock()
	e.subs[s] = struct{}{}
	e.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			s.stopped = true
			delete(e.subs, s)
			e.mu.Unlock()
			s.running.Wait()
		})
	}, nil
}

// versionHint returns, once, the version named by the event that last
// notified ref: the answer to the check that notification triggers.
func (e *Events) versionHint(ref string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.hints[ref]
	if !ok {
		return "", false
	}
	delete(e.hints, ref)
	if e.clock.Now().Sub(h.at) > hintTTL {
		return "", false
	}
	return h.version, true
}

// PushProvider is a [Provider] whose changes are also pushed by an
// [Events] receiver: it implements credential.Notifier, and its cheap check
// answers from the event that triggered it, so a push for the version a
// credential already holds costs no call at all. Make one with
// [Provider.WithEvents].
type PushProvider struct {
	*Provider
	events *Events
}

var (
	_ credential.Notifier       = (*PushProvider)(nil)
	_ credential.VersionChecker = (*PushProvider)(nil)
)

// WithEvents returns p with push from e. Every PushProvider made from one
// Provider shares its batch checks.
func (p *Provider) WithEvents(e *Events) *PushProvider {
	return &PushProvider{Provider: p, events: e}
}

// NotifyChange implements credential.Notifier: changed is called when an
// event names the ref's secret and the label it follows (AWSCURRENT unless
// the ref selects a stage).
func (p *PushProvider) NotifyChange(ref string, changed func()) (func(), error) {
	if p.events == nil {
		return nil, errors.New("aws: PushProvider without Events")
	}
	return p.events.subscribe(ref, changed)
}

// CurrentVersion answers the first check after an event notified ref from
// that event's version (when it is less than a minute old), and every other
// check with DescribeSecret.
func (p *PushProvider) CurrentVersion(ctx context.Context, ref string) (string, error) {
	if p.events != nil {
		if v, ok := p.events.versionHint(ref); ok {
			return v, nil
		}
	}
	return p.Provider.CurrentVersion(ctx, ref)
}

// PushHealthy reports whether the event queue is being read.
func (p *PushProvider) PushHealthy() bool { return p.events != nil && p.events.PushHealthy() }
