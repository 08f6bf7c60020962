// Package azurefake is an in-process fake of Azure Key Vault's secrets API
// that speaks its REST wire protocol over TLS, so the real
// *azsecrets.Client is tested against it exactly as against a vault: the
// first request of a client is answered with Key Vault's 401 challenge
// (WWW-Authenticate: Bearer authorization="…", resource="https://vault.azure.net"),
// the client asks its azcore.TokenCredential for a token of the scope the
// challenge names, and every later request must carry that token.
//
// Why not the SDK's own azsecrets/fake.Server: it dispatches in process
// through a Transport and never exercises the challenge policy, the TLS
// requirement of the bearer policy, or real 429 responses with Retry-After
// headers; and in azsecrets v1.4.0 it passes the secret name with a
// trailing "/" to GetSecret when the version is empty (the SDK requests
// "/secrets/NAME/"), fixed in v1.5.x. This fake answers "/secrets/NAME" and
// "/secrets/NAME/" alike, as Key Vault does.
//
// It implements GetSecret (latest or a version), SetSecret,
// UpdateSecretProperties, DeleteSecret and ListSecretProperties (25 per
// page, the latest version's attributes, tags and content type, no version
// ID and no value), with Key Vault's error shapes: 404 SecretNotFound, 403
// Forbidden (RBAC denial), 403 Forbidden with inner error SecretDisabled,
// 401 Unauthorized. Like Key Vault, a GET answers for versions outside
// their nbf/exp window: enforcing them is the client's job. Faults (429
// with Retry-After, 5xx, latency) can be injected per operation and every
// operation's calls are counted.
package azurefake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// The operations the fake counts and faults, by their SDK method names.
const (
	OpGet    = "GetSecret"
	OpList   = "ListSecretProperties"
	OpSet    = "SetSecret"
	OpUpdate = "UpdateSecretProperties"
	OpDelete = "DeleteSecret"
	// OpChallenge counts the unauthenticated requests answered with the 401
	// challenge (one per new client); they are not counted as their
	// operation.
	OpChallenge = "Challenge"
)

// Scope is the token scope Key Vault's challenge names.
const Scope = "https://vault.azure.net/.default"

// Server is the fake. Create it with New; Close it when done.
type Server struct {
	*httptest.Server
	// Vault is the vault name in secret IDs ("https://VAULT.vault.azure.net/secrets/NAME/VERSION").
	Vault string
	token string

	mu         sync.Mutex
	secrets    map[string]*secret
	faults     map[string]*Fault
	denied     map[string]bool
	listDenied bool
	calls      map[string]int
	now        func() time.Time
	onSet      func(Event)
}

type secret struct {
	name     string
	versions map[string]*version
	latest   *version
}

type version struct {
	id          string
	value       string
	contentType string
	tags        map[string]string
	enabled     bool
	nbf, exp    time.Time
	created     time.Time
	updated     time.Time
}

// Fault is an injected failure of one operation.
type Fault struct {
	// Status is the HTTP status (429, 500, 503...); 0 injects only Latency.
	Status int
	// Code is the error code in the body (default "Throttled" for 429,
	// "InternalServerError" otherwise).
	Code string
	// RetryAfter is sent as the Retry-After header, in whole seconds, when
	// positive.
	RetryAfter int
	// Latency delays the answer.
	Latency time.Duration
	// Times limits the fault to the next n calls; 0 means every call.
	Times int
}

// New starts a fake vault called "fakevault".
func New() *Server {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	s := &Server{
		Vault: "fakevault", token: "FAKE-entra-token-" + hex.EncodeToString(b),
		secrets: map[string]*secret{}, faults: map[string]*Fault{}, denied: map[string]bool{},
		calls: map[string]int{}, now: time.Now,
	}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// SetClock replaces the time source of created and updated dates and of
// the Date header.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// SetFault injects f into every call of op (an Op constant, or "*" for
// all) until cleared with a nil f.
func (s *Server) SetFault(op string, f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		delete(s.faults, op)
		return
	}
	cp := *f
	s.faults[op] = &cp
}

// Deny makes reads of the named secret fail as an RBAC denial does (403
// Forbidden, inner error ForbiddenByRbac).
func (s *Server) Deny(name string) {
	s.mu.Lock()
	s.denied[strings.ToLower(name)] = true
	s.mu.Unlock()
}

// DenyList makes the properties listing fail as an RBAC denial does (the
// identity may read secrets it was granted, but not list the vault).
func (s *Server) DenyList() {
	s.mu.Lock()
	s.listDenied = true
	s.mu.Unlock()
}

// Calls returns how many times op was called (faulted calls included).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// TotalCalls returns the number of calls of every operation, the 401
// challenges left out.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for op, c := range s.calls {
		if op != OpChallenge {
			n += c
		}
	}
	return n
}

// ResetCalls zeroes the counters.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = map[string]int{}
	s.mu.Unlock()
}

// Event is what Key Vault publishes to Event Grid when a version is
// created: the data of a Microsoft.KeyVault.SecretNewVersionCreated event.
type Event struct {
	ID         string `json:"Id"`
	VaultName  string `json:"VaultName"`
	ObjectType string `json:"ObjectType"`
	ObjectName string `json:"ObjectName"`
	Version    string `json:"Version"`
	NBF        *int64 `json:"NBF"`
	EXP        *int64 `json:"EXP"`
}

// OnNewVersion registers f, called (without the fake's lock held) after
// each SetSecret with the event Key Vault would publish.
func (s *Server) OnNewVersion(f func(Event)) {
	s.mu.Lock()
	s.onSet = f
	s.mu.Unlock()
}

func (s *Server) idOf(name, ver string) string {
	id := "https://" + s.Vault + ".vault.azure.net/secrets/" + name
	if ver != "" {
		id += "/" + ver
	}
	return id
}

type kvError struct {
	status     int
	code       string
	msg        string
	inner      string
	retryAfter int
}

func writeErr(w http.ResponseWriter, e *kvError) {
	body := map[string]any{"code": e.code, "message": e.msg}
	if e.inner != "" {
		body["innererror"] = map[string]any{"code": e.inner}
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// route returns the operation, secret name and version of a request.
func route(r *http.Request) (op, name, ver string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) == 0 || parts[0] != "secrets" {
		return "", "", "", false
	}
	if len(parts) >= 2 {
		name = parts[1]
	}
	if len(parts) >= 3 {
		ver = parts[2] // "" for "/secrets/NAME/": the latest version
	}
	if len(parts) > 3 {
		return "", "", "", false
	}
	switch {
	case r.Method == http.MethodGet && name == "":
		return OpList, "", "", true
	case r.Method == http.MethodGet:
		return OpGet, name, ver, true
	case r.Method == http.MethodPut && name != "" && ver == "":
		return OpSet, name, "", true
	case r.Method == http.MethodPatch && name != "":
		return OpUpdate, name, ver, true
	case r.Method == http.MethodDelete && name != "" && ver == "":
		return OpDelete, name, "", true
	}
	return "", "", "", false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	s.mu.Unlock()
	if r.URL.Query().Get("api-version") == "" {
		writeErr(w, &kvError{status: 400, code: "BadParameter", msg: "The 'api-version' query parameter is missing."})
		return
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		s.mu.Lock()
		s.calls[OpChallenge]++
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"`)
		writeErr(w, &kvError{status: 401, code: "Unauthorized", msg: "AKV10000: Request is missing a Bearer or PoP token."})
		return
	}
	if auth != "Bearer "+s.token {
		writeErr(w, &kvError{status: 401, code: "Unauthorized", msg: "AKV10032: Invalid issuer."})
		return
	}
	op, name, ver, ok := route(r)
	if !ok {
		writeErr(w, &kvError{status: 400, code: "BadParameter", msg: "The request URI is not valid."})
		return
	}
	s.mu.Lock()
	s.calls[op]++
	f := s.faults[op]
	if f == nil {
		f = s.faults["*"]
	}
	var fault Fault
	if f != nil {
		fault = *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				for k, v := range s.faults {
					if v == f {
						delete(s.faults, k)
					}
				}
			}
		}
	}
	s.mu.Unlock()
	if fault.Latency > 0 {
		select {
		case <-time.After(fault.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if fault.Status != 0 {
		code := fault.Code
		if code == "" {
			code = "InternalServerError"
			if fault.Status == http.StatusTooManyRequests {
				code = "Throttled"
			}
		}
		writeErr(w, &kvError{status: fault.Status, code: code, msg: "Injected fault " + code + ".", retryAfter: fault.RetryAfter})
		return
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeErr(w, &kvError{status: 400, code: "BadParameter", msg: "The request body could not be read."})
			return
		}
		body = b
	}
	switch op {
	case OpList:
		s.list(w, r)
	case OpGet:
		s.get(w, name, ver)
	case OpSet:
		s.set(w, name, body)
	case OpUpdate:
		s.update(w, name, ver, body)
	case OpDelete:
		s.delete(w, name)
	}
}

func notFound(name string) *kvError {
	return &kvError{status: 404, code: "SecretNotFound", msg: "A secret with (name/id) " + name + " was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command."}
}

func ptr[T any](v T) *T { return &v }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Server) attributes(v *version) *azsecrets.SecretAttributes {
	return &azsecrets.SecretAttributes{
		Enabled: ptr(v.enabled), NotBefore: timePtr(v.nbf), Expires: timePtr(v.exp),
		Created: timePtr(v.created), Updated: timePtr(v.updated),
		RecoverableDays: ptr(int32(90)), RecoveryLevel: ptr("Recoverable+Purgeable"),
	}
}

func tagsOf(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = ptr(v)
	}
	return out
}

func (s *Server) bundle(sec *secret, v *version, withValue bool) azsecrets.Secret {
	id := azsecrets.ID(s.idOf(sec.name, v.id))
	out := azsecrets.Secret{ID: &id, Attributes: s.attributes(v), Tags: tagsOf(v.tags)}
	if v.contentType != "" {
		out.ContentType = ptr(v.contentType)
	}
	if withValue {
		out.Value = ptr(v.value)
	}
	return out
}

func (s *Server) get(w http.ResponseWriter, name, ver string) {
	s.mu.Lock()
	sec := s.secrets[strings.ToLower(name)]
	denied := s.denied[strings.ToLower(name)]
	var v *version
	if sec != nil {
		v = sec.latest
		if ver != "" {
			v = sec.versions[strings.ToLower(ver)]
		}
	}
	var out azsecrets.Secret
	if v != nil {
		out = s.bundle(sec, v, true)
	}
	s.mu.Unlock()
	switch {
	case denied:
		writeErr(w, &kvError{status: 403, code: "Forbidden", inner: "ForbiddenByRbac",
			msg: "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'"})
	case v == nil:
		writeErr(w, notFound(name))
	case !v.enabled:
		writeErr(w, &kvError{status: 403, code: "Forbidden", inner: "SecretDisabled", msg: "Operation get is not allowed on a disabled secret."})
	default:
		writeJSON(w, out)
	}
}

const pageSize = 25

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	s.mu.Lock()
	if s.listDenied {
		s.mu.Unlock()
		writeErr(w, &kvError{status: 403, code: "Forbidden", inner: "ForbiddenByRbac",
			msg: "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'"})
		return
	}
	names := make([]string, 0, len(s.secrets))
	for k := range s.secrets {
		names = append(names, k)
	}
	sort.Strings(names)
	res := azsecrets.SecretPropertiesListResult{Value: []*azsecrets.SecretProperties{}}
	end := min(skip+pageSize, len(names))
	for _, k := range names[min(skip, len(names)):end] {
		sec := s.secrets[k]
		b := s.bundle(sec, sec.latest, false)
		id := azsecrets.ID(s.idOf(sec.name, ""))
		res.Value = append(res.Value, &azsecrets.SecretProperties{ID: &id, Attributes: b.Attributes, Tags: b.Tags, ContentType: b.ContentType, Managed: b.Managed})
	}
	s.mu.Unlock()
	if end < len(names) {
		res.NextLink = ptr(s.URL + "/secrets?api-version=" + r.URL.Query().Get("api-version") + "&$skiptoken=" + strconv.Itoa(end))
	}
	writeJSON(w, res)
}

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func fromTags(t map[string]*string) map[string]string {
	if t == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range t {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func validName(name string) bool {
	if name == "" || len(name) > 127 {
		return false
	}
	for _, c := range name {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (s *Server) set(w http.ResponseWriter, name string, body []byte) {
	if !validName(name) {
		writeErr(w, &kvError{status: 400, code: "BadParameter", msg: "The request URI contains an invalid name: " + name})
		return
	}
	var in azsecrets.SetSecretParameters
	if err := json.Unmarshal(body, &in); err != nil || in.Value == nil {
		writeErr(w, &kvError{status: 400, code: "BadParameter", msg: "Property value is required."})
		return
	}
	s.mu.Lock()
	now := s.now().UTC().Truncate(time.Second)
	v := &version{id: newVersionID(), value: *in.Value, tags: fromTags(in.Tags), enabled: true, created: now, updated: now}
	if in.ContentType != nil {
		v.contentType = *in.ContentType
	}
	if a := in.SecretAttributes; a != nil {
		if a.Enabled != nil {
			v.enabled = *a.Enabled
		}
		if a.NotBefore != nil {
			v.nbf = a.NotBefore.UTC()
		}
		if a.Expires != nil {
			v.exp = a.Expires.UTC()
		}
	}
	key := strings.ToLower(name)
	sec := s.secrets[key]
	if sec == nil {
		sec = &secret{name: name, versions: map[string]*version{}}
		s.secrets[key] = sec
	}
	sec.versions[v.id] = v
	sec.latest = v
	out := s.bundle(sec, v, true)
	ev := Event{ID: s.idOf(sec.name, v.id), VaultName: s.Vault, ObjectType: "Secret", ObjectName: sec.name, Version: v.id}
	if !v.nbf.IsZero() {
		ev.NBF = ptr(v.nbf.Unix())
	}
	if !v.exp.IsZero() {
		ev.EXP = ptr(v.exp.Unix())
	}
	onSet := s.onSet
	s.mu.Unlock()
	writeJSON(w, out)
	if onSet != nil {
		onSet(ev)
	}
}

func (s *Server) update(w http.ResponseWriter, name, ver string, body []byte) {
	var in azsecrets.UpdateSecretPropertiesParameters
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(w, &kvError{status: 400, code: "BadParameter", msg: "The request body is not valid JSON."})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[strings.ToLower(name)]
	var v *version
	if sec != nil {
		v = sec.latest
		if ver != "" {
			v = sec.versions[strings.ToLower(ver)]
		}
	}
	if v == nil {
		writeErr(w, notFound(name))
		return
	}
	if in.ContentType != nil {
		v.contentType = *in.ContentType
	}
	if in.Tags != nil {
		v.tags = fromTags(in.Tags)
	}
	if a := in.SecretAttributes; a != nil {
		if a.Enabled != nil {
			v.enabled = *a.Enabled
		}
		if a.NotBefore != nil {
			v.nbf = a.NotBefore.UTC()
		}
		if a.Expires != nil {
			v.exp = a.Expires.UTC()
		}
	}
	// Key Vault's clock moves on; make the change visible in "updated"
	// even when the fake clock stands still.
	u := s.now().UTC().Truncate(time.Second)
	if !u.After(v.updated) {
		u = v.updated.Add(time.Second)
	}
	v.updated = u
	writeJSON(w, s.bundle(sec, v, false))
}

func (s *Server) delete(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	sec := s.secrets[key]
	if sec == nil {
		writeErr(w, notFound(name))
		return
	}
	delete(s.secrets, key)
	out := s.bundle(sec, sec.latest, false)
	writeJSON(w, map[string]any{"id": out.ID, "attributes": out.Attributes, "recoveryId": "https://" + s.Vault + ".vault.azure.net/deletedsecrets/" + sec.name})
}

// String names the fake, for test logs.
func (s *Server) String() string { return fmt.Sprintf("azurefake(%s at %s)", s.Vault, s.URL) }
