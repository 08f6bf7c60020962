package azure

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
)

// NotifyChange implements credential.Notifier: changed is called when an
// [EventHandler] built on this provider (or on the Opener that made it)
// receives a Key Vault event for the secret behind ref. Registration works
// whether or not a handler is mounted yet; polling stays the fallback.
// changed runs on the handler's request goroutine: keep it short and do
// not call stop from it. stop waits until no call of changed is running.
func (p *Provider) NotifyChange(refStr string, changed func()) (func(), error) {
	r, err := parseRef("notify", refStr)
	if err != nil {
		return nil, err
	}
	if changed == nil {
		return nil, invalid("notify", refStr, "no callback")
	}
	return p.notify.add(r.key(), changed), nil
}

// registry holds change callbacks by lower-case secret name.
type registry struct {
	mu   sync.Mutex
	subs map[string]map[*sub]struct{}
}

type sub struct {
	f       func()
	mu      sync.Mutex
	stopped bool
	active  sync.WaitGroup
}

func (g *registry) add(key string, f func()) func() {
	s := &sub{f: f}
	g.mu.Lock()
	if g.subs[key] == nil {
		g.subs[key] = map[*sub]struct{}{}
	}
	g.subs[key][s] = struct{}{}
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			delete(g.subs[key], s)
			if len(g.subs[key]) == 0 {
				delete(g.subs, key)
			}
			g.mu.Unlock()
			s.mu.Lock()
			s.stopped = true
			s.mu.Unlock()
		})
		s.active.Wait()
	}
}

// call runs the callbacks of key, without any lock held while they run,
// and returns how many ran.
func (g *registry) call(key string) int {
	g.mu.Lock()
	list := make([]*sub, 0, len(g.subs[key]))
	for s := range g.subs[key] {
		list = append(list, s)
	}
	g.mu.Unlock()
	n := 0
	for _, s := range list {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			continue
		}
		s.active.Add(1)
		s.mu.Unlock()
		s.f()
		s.active.Done()
		n++
	}
	return n
}

// dispatch notifies the watchers of name when vault is this provider's
// vault (or the provider does not know its vault yet).
func (p *Provider) dispatch(vault, name string) int {
	if v := p.vault.Load(); v != nil && vault != "" && !strings.EqualFold(*v, vault) {
		return 0
	}
	return p.notify.call(strings.ToLower(name))
}

// PushTarget is what an [EventHandler] notifies: a *Provider or an
// *Opener (every vault it opened, now or later).
type PushTarget interface {
	dispatch(vault, name string) int
	attach(h *EventHandler) (detach func())
}

var (
	_ PushTarget = (*Provider)(nil)
	_ PushTarget = (*Opener)(nil)
)

// The Key Vault secret events the handler acts on.
const (
	EventSecretNewVersionCreated = "Microsoft.KeyVault.SecretNewVersionCreated"
	EventSecretNearExpiry        = "Microsoft.KeyVault.SecretNearExpiry"
	EventSecretExpired           = "Microsoft.KeyVault.SecretExpired"
	eventValidation              = "Microsoft.EventGrid.SubscriptionValidationEvent"
)

// EventHandler receives Key Vault events from an Event Grid subscription
// with a webhook endpoint, and turns them into change notifications for
// the credentials watching those secrets. Mount it on the service's mux:
//
//	mux.Handle("POST /hooks/keyvault", azure.NewEventHandler(hookSecret, opener))
//
// and give Event Grid the endpoint with the shared secret, either in the
// URL (https://svc.example/hooks/keyvault?code=SECRET) or, better since
// URLs end up in logs, as a delivery header "Authorization: Bearer SECRET"
// (a secret delivery attribute).
//
// It completes Event Grid's subscription validation handshake (the
// SubscriptionValidationEvent of the Event Grid schema, the OPTIONS request
// of the CloudEvents 1.0 schema), accepts both schemas, and acts on
// SecretNewVersionCreated (a version whose nbf is still ahead is left to
// the poll after it), SecretNearExpiry (recorded, see
// [EventHandler.NearExpiry]) and SecretExpired; other events are
// acknowledged and ignored. A delivery without the shared secret is
// answered 401 (the secret is compared in constant time); a body over the
// limit 413; a malformed one 400. Problems are logged without the body or
// the URL's query. It is safe for concurrent use.
type EventHandler struct {
	secret  credential.Credential
	auth    func(*http.Request) bool
	to      PushTarget
	maxBody int64
	logger  *slog.Logger
	clock   credential.Clock

	mu   sync.Mutex
	near map[string]NearExpiry

	check      func() bool // WithPushHealthCheck
	closed     atomic.Bool
	secretDown atomic.Bool // the shared secret could not be read
	detach     func()
	closeOnce  sync.Once
}

// HandlerOption configures an EventHandler.
type HandlerOption interface{ applyHandler(*EventHandler) }

type handlerOption func(*EventHandler)

func (f handlerOption) applyHandler(h *EventHandler) { f(h) }

// WithMaxBody sets the largest delivery accepted, in bytes (default 64
// KiB; Key Vault events are a few hundred bytes, Event Grid batches them).
func WithMaxBody(n int64) HandlerOption {
	return handlerOption(func(h *EventHandler) {
		if n > 0 {
			h.maxBody = n
		}
	})
}

// WithHandlerLogger sets where refused deliveries are logged (default:
// nowhere).
func WithHandlerLogger(l *slog.Logger) HandlerOption {
	return handlerOption(func(h *EventHandler) {
		if l != nil {
			h.logger = l
		}
	})
}

// WithDeliveryAuthenticator replaces the shared-secret check with auth,
// for Entra-authenticated delivery: Event Grid then sends an Entra ID
// token (Authorization: Bearer JWT, audience your app registration), and
// auth reports whether r carries a valid one (your service's own JWT
// validation, against Entra ID's signing keys). The handler's secret may
// then be nil. auth must be safe for concurrent use.
func WithDeliveryAuthenticator(auth func(r *http.Request) bool) HandlerOption {
	return handlerOption(func(h *EventHandler) { h.auth = auth })
}

// WithHandlerClock sets the clock that judges an event's nbf (default
// credential.SystemClock).
func WithHandlerClock(c credential.Clock) HandlerOption {
	return handlerOption(func(h *EventHandler) { h.clock = credential.ClockOrSystem(c) })
}

// WithPushHealthCheck adds check to what the handler's push health
// depends on (see [Provider.PushHealthy]): for example a probe of the
// Event Grid subscription's delivery-failure metric or dead-letter
// container. check must be cheap and safe for concurrent use; it is called
// at every scheduling decision of every credential the handler serves.
func WithPushHealthCheck(check func() bool) HandlerOption {
	return handlerOption(func(h *EventHandler) { h.check = check })
}

// NewEventHandler returns a handler that authenticates deliveries with the
// shared secret (read at every delivery, so it can itself be a rotating
// credential; see [WithDeliveryAuthenticator] for Entra-authenticated
// delivery) and notifies to. From now until [EventHandler.Close], to
// reports its push healthy (see [Provider.PushHealthy]).
func NewEventHandler(secret credential.Credential, to PushTarget, opts ...HandlerOption) *EventHandler {
	h := &EventHandler{secret: secret, to: to, maxBody: 64 << 10, logger: slog.New(slog.DiscardHandler), clock: credential.SystemClock, near: map[string]NearExpiry{}}
	for _, o := range opts {
		o.applyHandler(h)
	}
	if to != nil {
		h.detach = to.attach(h)
	}
	return h
}

// Close tells the handler's target that this handler no longer receives
// events (call it when the handler is unmounted): its credentials go back
// to polling at their normal interval. It does not stop a delivery in
// progress. It is safe to call more than once.
func (h *EventHandler) Close() error {
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		if h.detach != nil {
			h.detach()
		}
	})
	return nil
}

// PushHealthy reports whether the handler is mounted (not closed), could
// read its shared secret at the last delivery, and its
// [WithPushHealthCheck] check, if any, passes.
func (h *EventHandler) PushHealthy() bool {
	return !h.closed.Load() && !h.secretDown.Load() && (h.check == nil || h.check())
}

// handlerSet is the set of event handlers pushing to a Provider or an
// Opener.
type handlerSet struct {
	mu sync.Mutex
	hs map[*EventHandler]struct{}
}

func (s *handlerSet) attach(h *EventHandler) func() {
	s.mu.Lock()
	if s.hs == nil {
		s.hs = map[*EventHandler]struct{}{}
	}
	s.hs[h] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.hs, h)
		s.mu.Unlock()
	}
}

func (s *handlerSet) healthy() bool {
	s.mu.Lock()
	list := make([]*EventHandler, 0, len(s.hs))
	for h := range s.hs {
		list = append(list, h)
	}
	s.mu.Unlock()
	for _, h := range list {
		if h.PushHealthy() {
			return true
		}
	}
	return false
}

func (p *Provider) attach(h *EventHandler) func() { return p.handlers.attach(h) }

func (o *Opener) attach(h *EventHandler) func() { return o.handlers.attach(h) }

// PushHealthy implements credential.PushHealth: it reports whether an
// [EventHandler] built on this provider, or on the Opener that made it,
// is mounted and healthy ([EventHandler.PushHealthy]). While it is, rotate
// polls at its slow safety interval. Event Grid sends no heartbeat, so a
// subscription that stops delivering without the handler knowing is caught
// by the safety poll; [WithPushHealthCheck] can watch the subscription
// itself.
func (p *Provider) PushHealthy() bool {
	return p.handlers.healthy() || (p.parent != nil && p.parent.healthy())
}

// NearExpiry is a secret Key Vault reported as nearing its expiry.
type NearExpiry struct {
	Vault   string    `json:"vault"`
	Name    string    `json:"name"`
	Version string    `json:"version,omitempty"`
	Expires time.Time `json:"expires"`
	// Reported is when the event arrived.
	Reported time.Time `json:"reported"`
}

// NearExpiry returns the secrets reported by SecretNearExpiry events whose
// expiry has not passed and that no newer version replaced since, sorted
// by expiry. Feed it to a health check (see the package example).
func (h *EventHandler) NearExpiry() []NearExpiry {
	now := h.clock.Now()
	h.mu.Lock()
	out := make([]NearExpiry, 0, len(h.near))
	for _, n := range h.near {
		if n.Expires.IsZero() || now.Before(n.Expires) {
			out = append(out, n)
		}
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
	return out
}

// authorized compares the delivery's secret (?code= or Authorization:
// Bearer) with the shared one in constant time.
func (h *EventHandler) authorized(r *http.Request) (ok bool, err error) {
	if h.auth != nil {
		return h.auth(r), nil
	}
	want, err := h.secret.Get(r.Context())
	if err != nil {
		return false, err
	}
	got := r.URL.Query().Get("code")
	if a := r.Header.Get("Authorization"); got == "" && len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		got = a[7:]
	}
	if got == "" || want.IsZero() {
		return false, nil
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want.Reveal()))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1, nil
}

// refuse logs a refused delivery (never its body or query) and answers it.
func (h *EventHandler) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h.logger.Warn("credkit: Key Vault event delivery refused", "status", status, "reason", reason, "remote", r.RemoteAddr, "path", r.URL.Path)
	http.Error(w, http.StatusText(status), status)
}

// ServeHTTP implements http.Handler.
func (h *EventHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (h.secret == nil && h.auth == nil) || h.to == nil {
		h.logger.Error("credkit: the Key Vault event handler has no shared secret or no push target")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodOptions {
		w.Header().Set("Allow", "POST, OPTIONS")
		h.refuse(w, r, http.StatusMethodNotAllowed, "method")
		return
	}
	ok, err := h.authorized(r)
	h.secretDown.Store(err != nil)
	if err != nil {
		h.logger.Error("credkit: the Event Grid shared secret is unavailable", "error_kind", credential.KindName(err))
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	if !ok {
		h.refuse(w, r, http.StatusUnauthorized, "missing or wrong shared secret")
		return
	}
	if r.Method == http.MethodOptions {
		// CloudEvents 1.0 webhook validation (abuse protection).
		origin := r.Header.Get("WebHook-Request-Origin")
		if origin == "" {
			h.refuse(w, r, http.StatusBadRequest, "OPTIONS without WebHook-Request-Origin")
			return
		}
		w.Header().Set("WebHook-Allowed-Origin", origin)
		w.Header().Set("WebHook-Allowed-Rate", "*")
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.ContentLength > h.maxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "body over the limit")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, "body over the limit")
			return
		}
		h.refuse(w, r, http.StatusBadRequest, "body could not be read")
		return
	}
	events, err := decodeEvents(body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if len(events) > 0 && events[0].Type == eventValidation {
		var d struct {
			ValidationCode string `json:"validationCode"`
		}
		if json.Unmarshal(events[0].Data, &d) != nil || d.ValidationCode == "" {
			h.refuse(w, r, http.StatusBadRequest, "validation event without a validation code")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"validationResponse": d.ValidationCode})
		return
	}
	// Check every event before acting on any: a batch is refused whole.
	type action struct {
		kind string
		data keyVaultData
	}
	var acts []action
	for _, e := range events {
		switch e.Type {
		case EventSecretNewVersionCreated, EventSecretNearExpiry, EventSecretExpired:
		default:
			continue // another event type of the topic: acknowledged
		}
		var d keyVaultData
		if err := json.Unmarshal(e.Data, &d); err != nil || !validName(d.ObjectName) || (d.Version != "" && !validVersion(d.Version)) {
			h.refuse(w, r, http.StatusBadRequest, "malformed Key Vault event data")
			return
		}
		acts = append(acts, action{e.Type, d})
	}
	now := h.clock.Now()
	for _, a := range acts {
		d := a.data
		key := strings.ToLower(d.VaultName) + "/" + strings.ToLower(d.ObjectName)
		switch a.kind {
		case EventSecretNewVersionCreated:
			h.mu.Lock()
			delete(h.near, key)
			h.mu.Unlock()
			if d.NBF != nil && now.Before(time.Unix(*d.NBF, 0)) {
				continue // not valid yet: the first poll after its nbf fetches it
			}
		case EventSecretNearExpiry:
			n := NearExpiry{Vault: d.VaultName, Name: d.ObjectName, Version: d.Version, Reported: now}
			if d.EXP != nil {
				n.Expires = time.Unix(*d.EXP, 0).UTC()
			}
			h.mu.Lock()
			h.near[key] = n
			h.mu.Unlock()
			h.logger.Warn("credkit: Key Vault secret nears its expiry", "vault", d.VaultName, "secret", d.ObjectName, "expires", n.Expires)
		}
		h.to.dispatch(d.VaultName, d.ObjectName)
	}
	w.WriteHeader(http.StatusOK)
}

// event is one event of either schema, reduced to what the handler reads.
type event struct {
	Type string
	Data json.RawMessage
}

// keyVaultData is the data of a Key Vault event.
type keyVaultData struct {
	ID         string `json:"Id"`
	VaultName  string `json:"VaultName"`
	ObjectType string `json:"ObjectType"`
	ObjectName string `json:"ObjectName"`
	Version    string `json:"Version"`
	NBF        *int64 `json:"NBF"`
	EXP        *int64 `json:"EXP"`
}

type decodeError string

func (e decodeError) Error() string { return string(e) }

// decodeEvents reads a delivery: an array of events, or one CloudEvent.
// Event Grid schema events have "eventType" and "data"; CloudEvents have
// "specversion", "type" and "data".
func decodeEvents(body []byte) ([]event, error) {
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	switch {
	case len(body) > 0 && body[0] == '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, decodeError("body is not a JSON array of events")
		}
	case len(body) > 0 && body[0] == '{':
		raws = []json.RawMessage{body}
	default:
		return nil, decodeError("body is not JSON")
	}
	if len(raws) == 0 {
		return nil, decodeError("no event")
	}
	out := make([]event, 0, len(raws))
	for _, raw := range raws {
		var e struct {
			SpecVersion string          `json:"specversion"`
			Type        string          `json:"type"`
			EventType   string          `json:"eventType"`
			Data        json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, decodeError("an event is not a JSON object")
		}
		t := e.EventType
		if e.SpecVersion != "" {
			t = e.Type
		}
		if t == "" {
			return nil, decodeError("an event has no type")
		}
		out = append(out, event{Type: t, Data: e.Data})
	}
	return out, nil
}
