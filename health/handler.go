package health

import (
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"
)

// Handler serves the monitor's cached results over HTTP, to mount on an
// existing mux:
//
//	h := health.NewHandler(monitor, health.WithToken(os.Getenv("HEALTH_TOKEN")))
//	mux.Handle("/livez", h)
//	mux.Handle("/readyz", h)
//	mux.Handle("/readyz/", h) // one check: /readyz/openai:credential
//
// Routes, by the last elements of the request path:
//
//   - /livez: 200 while the process serves HTTP; never depends on a check.
//   - /readyz: 200 when every critical check passes or warns, 503
//     otherwise. ?exclude=NAME (repeatable) leaves checks out, as
//     Kubernetes does.
//   - /readyz/NAME: one check (by name or component:measurement).
//   - /inventory: the credential inventory ([WithInventory]).
//
// Responses are application/health+json in the IETF health check response
// format (status, and with ?verbose a "checks" object keyed
// "component:measurement"), carry Cache-Control: no-store, and answer HEAD
// without a body. Detail — checks, outputs, inventory — shows the service's
// topology, so it is served only to requests bearing the configured token
// ([WithToken], compared in constant time); others get the bare status and
// a 403 for the inventory. Loopback callers are not trusted by default:
// behind a proxy or sidecar on the same host (Envoy in a mesh) every caller
// is loopback. [WithLoopbackTrust] opts in where no such proxy exists.
// Serving never runs a check.
type Handler struct {
	m             *Monitor
	token         string
	trustLoopback bool
	inventory     func() any
	service       string
}

// HandlerOption configures a [Handler].
type HandlerOption func(*Handler)

// WithToken lets a request bearing "Authorization: Bearer TOKEN" see detail
// and the inventory. Without a token (and without [WithLoopbackTrust]) no
// caller sees them.
func WithToken(token string) HandlerOption { return func(h *Handler) { h.token = token } }

// WithLoopbackTrust also shows detail and the inventory to every caller
// from a loopback address, without a token. Use it only where nothing on
// the host forwards outside requests: behind a local proxy or a service
// mesh sidecar every request comes from loopback. Default: off.
func WithLoopbackTrust() HandlerOption { return func(h *Handler) { h.trustLoopback = true } }

// WithInventory serves f's result as JSON at /inventory (under the same
// restriction as detail); pass func() any { return set.Inventory() }.
func WithInventory(f func() any) HandlerOption { return func(h *Handler) { h.inventory = f } }

// WithServiceID sets the serviceId of the response.
func WithServiceID(id string) HandlerOption { return func(h *Handler) { h.service = id } }

// NewHandler returns a handler for m.
func NewHandler(m *Monitor, opts ...HandlerOption) *Handler {
	h := &Handler{m: m}
	for _, o := range opts {
		o(h)
	}
	return h
}

// checkJSON is one entry of "checks" in the IETF format.
type checkJSON struct {
	ComponentID   string `json:"componentId,omitempty"`
	ComponentType string `json:"componentType,omitempty"`
	Status        Status `json:"status"`
	Time          string `json:"time,omitempty"`
	Output        string `json:"output,omitempty"`
	ObservedValue any    `json:"observedValue,omitempty"`
	ObservedUnit  string `json:"observedUnit,omitempty"`
	Critical      bool   `json:"critical"`
}

type responseJSON struct {
	Status    Status                 `json:"status"`
	ServiceID string                 `json:"serviceId,omitempty"`
	Output    string                 `json:"output,omitempty"`
	Checks    map[string][]checkJSON `json:"checks,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case strings.HasSuffix(path, "/livez") || path == "livez":
		h.write(w, r, http.StatusOK, responseJSON{Status: Pass, ServiceID: h.service})
	case strings.HasSuffix(path, "/readyz") || path == "readyz":
		h.ready(w, r, "")
	case strings.Contains(path, "/readyz/"):
		h.ready(w, r, path[strings.LastIndex(path, "/readyz/")+len("/readyz/"):])
	case strings.HasSuffix(path, "/inventory"):
		if h.inventory == nil {
			http.NotFound(w, r)
			return
		}
		if !h.detailAllowed(r) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(h.inventory())
		}
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) ready(w http.ResponseWriter, r *http.Request, one string) {
	views := h.m.Results()
	exclude := r.URL.Query()["exclude"]
	if one != "" {
		var found []View
		for _, v := range views {
			if v.Check.Name == one || v.Check.key() == one {
				found = append(found, v)
			}
		}
		if len(found) == 0 {
			http.NotFound(w, r)
			return
		}
		views, exclude = found, nil
	}
	st := overall(views, exclude, one == "")
	if one != "" {
		st = views[0].Result.Status
		if st == Pending {
			st = Fail
		}
	}
	code := http.StatusOK
	if st == Fail {
		code = http.StatusServiceUnavailable
	}
	resp := responseJSON{Status: st, ServiceID: h.service}
	_, verbose := r.URL.Query()["verbose"]
	if (verbose || one != "") && h.detailAllowed(r) {
		resp.Checks = map[string][]checkJSON{}
		for _, v := range views {
			if excluded(v.Check, exclude) {
				continue
			}
			s := v.Result.Status
			if s == Pending {
				s = Warn
			}
			c := checkJSON{
				ComponentID: v.Check.Component, ComponentType: v.Check.ComponentType, Status: s,
				Output: v.Result.Output, ObservedValue: v.Result.ObservedValue, ObservedUnit: v.Result.ObservedUnit,
				Critical: v.Check.Critical,
			}
			if !v.Result.Time.IsZero() {
				c.Time = v.Result.Time.UTC().Format(time.RFC3339Nano)
			}
			k := v.Check.key()
			resp.Checks[k] = append(resp.Checks[k], c)
		}
	}
	h.write(w, r, code, resp)
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, code int, resp responseJSON) {
	w.Header().Set("Content-Type", "application/health+json")
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// detailAllowed reports whether r may see detail: with the token, or from
// a loopback address when the handler trusts loopback.
func (h *Handler) detailAllowed(r *http.Request) bool {
	if h.token != "" {
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") &&
			subtle.ConstantTimeCompare([]byte(auth[len("Bearer "):]), []byte(h.token)) == 1 {
			return true
		}
	}
	if !h.trustLoopback {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
