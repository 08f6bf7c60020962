package gcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pubsubpb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/credkit/credkit/credential"
)

// Notifier turns Secret Manager's Pub/Sub notifications into change
// notifications: SECRET_VERSION_ADD, SECRET_VERSION_ENABLE,
// SECRET_VERSION_DISABLE, SECRET_VERSION_DESTROY, SECRET_ROTATE (and
// SECRET_UPDATE, which moves aliases, and SECRET_DELETE) wake the
// credentials of that secret, which then fetch. It implements
// [credential.Notifier]; give it to the provider with [NewPushProvider] or
// to the opener with [WithPush].
//
// Every replica needs its own subscription: consumers of one subscription
// share its messages, so each would see only some changes. Either the
// caller names a subscription made for this replica ([WithSubscription]),
// or the Notifier creates one per process on a topic ([WithTopic]), with
// an expiration policy so that a crashed process's subscription goes away
// by itself, and deletes it on Close.
//
// A message names the secret by project number where refs usually use the
// project id, so messages are matched by location and secret id: a secret
// of the same name in another project that publishes to the same topic
// causes a spurious fetch, never a missed one. It is safe for concurrent
// use.
type Notifier struct {
	client *pubsub.Client
	sub    string
	owned  bool
	logger *slog.Logger

	mu       sync.Mutex
	watchers map[string]map[*watcher]struct{} // by location/secret id

	cancel  context.CancelFunc
	done    chan struct{}
	closing sync.Once

	receiving atomic.Bool
	started   chan struct{} // closed when the first Receive starts
	startOnce sync.Once
	recvStart atomic.Int64 // unix nanoseconds: when the running Receive started
	messages  atomic.Int64
	lastMsg   atomic.Int64 // unix nanoseconds
	lastErr   atomic.Value // string: the kind of the last receive error
}

var (
	_ credential.Notifier   = (*Notifier)(nil)
	_ credential.PushHealth = (*Notifier)(nil)
)

// settleTime is how long a Receive restarted after a failure must run
// without failing before push counts as healthy again, when no message
// proves it sooner.
const settleTime = 10 * time.Second

// PushHealthy implements credential.PushHealth: it reports whether the
// subscription is being received from — and, after a receive failure,
// whether a message has arrived since or the restarted receive has run
// for 10 s. While it is, rotate polls at its slow safety interval; a
// deleted subscription or a lost permission makes it false at once.
func (n *Notifier) PushHealthy() bool {
	if !n.receiving.Load() {
		return false
	}
	return n.lastErr.Load().(string) == "" || time.Since(time.Unix(0, n.recvStart.Load())) >= settleTime
}

// NotifierOption configures [NewNotifier].
type NotifierOption func(*notifierOptions)

type notifierOptions struct {
	sub, topic string
	ttl        time.Duration
	logger     *slog.Logger
}

// WithSubscription receives from an existing subscription, made for this
// replica alone ("projects/P/subscriptions/S", or an id in the client's
// project). Its IAM: roles/pubsub.subscriber on the subscription.
func WithSubscription(name string) NotifierOption {
	return func(o *notifierOptions) { o.sub = name }
}

// WithTopic makes the Notifier create a subscription of its own on topic
// (the topic the secrets publish to, "projects/P/topics/T"), with an
// expiration policy of ttl (default and minimum 24 hours) and a 10-minute
// message retention, and delete it on Close. Its IAM: on the project,
// pubsub.subscriptions.create, .consume and .delete (roles/pubsub.editor,
// or a custom role); on the topic, pubsub.topics.attachSubscription.
func WithTopic(topic string, ttl time.Duration) NotifierOption {
	return func(o *notifierOptions) { o.topic, o.ttl = topic, ttl }
}

// WithNotifierLogger logs receive failures and recoveries (default:
// nowhere).
func WithNotifierLogger(l *slog.Logger) NotifierOption {
	return func(o *notifierOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// NewNotifier starts receiving Secret Manager notifications with client.
// Exactly one of [WithSubscription] and [WithTopic] is required. With
// WithTopic it creates the subscription first, and fails when it cannot
// (ErrPermission, ErrNotFound for a missing topic, ErrUnavailable). Close
// stops it.
func NewNotifier(ctx context.Context, client *pubsub.Client, opts ...NotifierOption) (*Notifier, error) {
	o := notifierOptions{logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	if (o.sub == "") == (o.topic == "") {
		return nil, &credential.Error{Op: "notify", Kind: credential.ErrInvalid, Reason: "give exactly one of WithSubscription and WithTopic"}
	}
	n := &Notifier{client: client, logger: o.logger, watchers: map[string]map[*watcher]struct{}{}, done: make(chan struct{}), started: make(chan struct{})}
	n.lastErr.Store("")
	if o.sub != "" {
		n.sub = o.sub
		if !strings.HasPrefix(n.sub, "projects/") {
			n.sub = "projects/" + client.Project() + "/subscriptions/" + n.sub
		}
	} else {
		topic := o.topic
		if !strings.HasPrefix(topic, "projects/") {
			topic = "projects/" + client.Project() + "/topics/" + topic
		}
		ttl := max(o.ttl, 24*time.Hour)
		var b [8]byte
		_, _ = rand.Read(b[:])
		n.sub = "projects/" + client.Project() + "/subscriptions/credkit-" + hex.EncodeToString(b[:])
		_, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: n.sub, Topic: topic,
			AckDeadlineSeconds:       10,
			MessageRetentionDuration: durationpb.New(10 * time.Minute),
			ExpirationPolicy:         &pubsubpb.ExpirationPolicy{Ttl: durationpb.New(ttl)},
			Labels:                   map[string]string{"created-by": "credkit"},
		})
		if err != nil {
			return nil, mapErr(ctx, "notify", topic, err)
		}
		n.owned = true
	}
	rctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go n.run(rctx)
	return n, nil
}

// Subscription returns the full name of the subscription received from.
func (n *Notifier) Subscription() string { return n.sub }

// NotifierStatus is the health of a [Notifier].
type NotifierStatus struct {
	// Receiving reports that the subscription is being received from.
	Receiving bool
	// Messages counts the messages received; LastMessage is when the last
	// one arrived (zero before the first).
	Messages    int64
	LastMessage time.Time
	// LastError is the kind of the last receive failure
	// (credential.KindName), empty while receiving works.
	LastError string
}

// Status returns the Notifier's health. rotate reads it through
// [Notifier.PushHealthy] and polls at its slow safety interval while push
// is healthy: no need to lengthen rotate.WithInterval by hand.
func (n *Notifier) Status() NotifierStatus {
	st := NotifierStatus{Receiving: n.receiving.Load(), Messages: n.messages.Load(), LastError: n.lastErr.Load().(string)}
	if t := n.lastMsg.Load(); t != 0 {
		st.LastMessage = time.Unix(0, t)
	}
	return st
}

// run receives until Close, restarting Receive after a failure with
// backoff (1 s doubling to a minute).
func (n *Notifier) run(ctx context.Context) {
	defer close(n.done)
	sub := n.client.Subscriber(n.sub)
	sub.ReceiveSettings.NumGoroutines = 1
	delay := time.Second
	for {
		n.recvStart.Store(time.Now().UnixNano())
		n.receiving.Store(true)
		n.startOnce.Do(func() { close(n.started) })
		err := sub.Receive(ctx, n.handle)
		n.receiving.Store(false)
		if ctx.Err() != nil {
			return
		}
		kind := "unavailable"
		if err != nil {
			kind = credential.KindName(mapErr(ctx, "notify", n.sub, err))
		}
		n.lastErr.Store(kind)
		n.logger.Warn("credkit: Pub/Sub receive failed; retrying", "subscription", n.sub, "error_kind", kind, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, time.Minute)
	}
}

// events are the notification types that may change what a ref reads.
var events = map[string]bool{
	"SECRET_VERSION_ADD": true, "SECRET_VERSION_ENABLE": true, "SECRET_VERSION_DISABLE": true,
	"SECRET_VERSION_DESTROY": true, "SECRET_ROTATE": true, "SECRET_UPDATE": true, "SECRET_DELETE": true,
}

func (n *Notifier) handle(_ context.Context, m *pubsub.Message) {
	m.Ack()
	n.messages.Add(1)
	n.lastMsg.Store(time.Now().UnixNano())
	n.lastErr.Store("")
	if !events[m.Attributes["eventType"]] {
		return
	}
	key, ok := secretKey(m.Attributes["secretId"])
	if !ok {
		return
	}
	n.mu.Lock()
	ws := make([]*watcher, 0, len(n.watchers[key]))
	for w := range n.watchers[key] {
		ws = append(ws, w)
	}
	n.mu.Unlock()
	for _, w := range ws {
		w.call()
	}
}

// secretKey returns "LOCATION/ID" ("global/ID" for a global secret) of a
// secret, version or ref name.
func secretKey(name string) (string, bool) {
	r, err := parseRef("notify", name)
	if err != nil {
		return "", false
	}
	loc := r.location
	if loc == "" {
		loc = "global"
	}
	return loc + "/" + r.id, true
}

// watcher is one NotifyChange registration.
type watcher struct {
	f       func()
	mu      sync.Mutex
	cond    *sync.Cond
	running int
	stopped bool
}

func (w *watcher) call() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.running++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running--
		w.cond.Broadcast()
		w.mu.Unlock()
	}()
	w.f()
}

// NotifyChange implements credential.Notifier: changed is called after a
// notification about the secret of ref (a ref or a secret name). stop
// unregisters and waits for a running call of changed to return; it must
// not be called from changed.
func (n *Notifier) NotifyChange(ref string, changed func()) (stop func(), err error) {
	key, ok := secretKey(ref)
	if !ok {
		_, err := parseRef("notify", ref)
		return nil, err
	}
	w := &watcher{f: changed}
	w.cond = sync.NewCond(&w.mu)
	n.mu.Lock()
	if n.watchers[key] == nil {
		n.watchers[key] = map[*watcher]struct{}{}
	}
	n.watchers[key][w] = struct{}{}
	n.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.watchers[key], w)
			if len(n.watchers[key]) == 0 {
				delete(n.watchers, key)
			}
			n.mu.Unlock()
			w.mu.Lock()
			w.stopped = true
			for w.running > 0 {
				w.cond.Wait()
			}
			w.mu.Unlock()
		})
	}, nil
}

// Close stops receiving, waits for the receiver, and deletes the
// subscription the Notifier created ([WithTopic]); a subscription named
// with [WithSubscription] is left alone. It is idempotent; the error is
// the deletion's.
func (n *Notifier) Close() error {
	var err error
	n.closing.Do(func() {
		n.cancel()
		<-n.done
		if n.owned {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if e := n.client.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: n.sub}); e != nil {
				err = mapErr(ctx, "close", n.sub, e)
			}
		}
	})
	return err
}

// PushProvider is a [Provider] whose changes also arrive through a
// [Notifier]: it implements credential.Notifier, so rotate wakes its
// credentials on a notification instead of waiting for the next poll.
type PushProvider struct {
	*Provider
	n *Notifier
}

var (
	_ credential.Notifier   = (*PushProvider)(nil)
	_ credential.PushHealth = (*PushProvider)(nil)
)

// PushHealthy reports whether the Notifier receives (see
// [Notifier.PushHealthy]).
func (p *PushProvider) PushHealthy() bool { return p.n != nil && p.n.PushHealthy() }

// NewPushProvider returns p with push through n. Several providers may
// share one Notifier.
func NewPushProvider(p *Provider, n *Notifier) *PushProvider { return &PushProvider{Provider: p, n: n} }

// NotifyChange implements credential.Notifier through the Notifier.
func (p *PushProvider) NotifyChange(ref string, changed func()) (stop func(), err error) {
	return p.n.NotifyChange(ref, changed)
}
