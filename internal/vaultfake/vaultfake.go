package vaultfake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credkit/credkit/credential"
)

// Server is the fake. Create it with New; Close it when done. It is safe
// for concurrent use.
type Server struct {
	*httptest.Server

	clock credential.Clock

	mu       sync.Mutex
	kv       map[string]*kvMount // by mount name, no slashes around
	dbs      map[string]*dbMount
	leases   map[string]*lease
	tokens   map[string]*token
	approles map[string]AppRole
	k8s      map[string]LoginRole
	jwt      map[string]LoginRole
	denied   map[string]bool // paths (no /v1/) answered 403
	faults   []*Fault
	sealed   bool
	calls    map[string]int
	seq      int
}

type kvMount struct {
	version int
	secrets map[string]*kvSecret
}

type kvSecret struct {
	versions []*kvVersion // index i is version i+1
	custom   map[string]string
	created  time.Time
	updated  time.Time
	v1       map[string]any
}

type kvVersion struct {
	data      map[string]any
	created   time.Time
	deleted   time.Time
	destroyed bool
}

type dbMount struct {
	roles map[string]DBRole
}

// DBRole is a role of the dynamic database engine.
type DBRole struct {
	DefaultTTL, MaxTTL time.Duration
	// Plugin, when set, does in a real database what Vault's database
	// plugin does: creates the user when a lease is issued, extends it at
	// renewal, drops it when the lease is revoked or expires (see
	// [Server.Expire]). Nil: the credentials exist only in the fake.
	Plugin DBPlugin
}

// DBPlugin is the database side of the dynamic engine, as Vault's database
// plugins (postgresql-database-plugin...) run a role's creation, renew and
// revocation statements. Its methods are called with the fake's lock held:
// they must not call back into the Server. An error from NewUser fails the
// read with a 500, as Vault does; errors from RenewUser and RevokeUser are
// returned by [Server.Expire] or answer the renew/revoke request with a 500.
type DBPlugin interface {
	NewUser(username, password string, expiration time.Time) error
	RenewUser(username string, expiration time.Time) error
	RevokeUser(username string) error
}

type lease struct {
	id        string
	username  string
	password  string
	token     string
	issued    time.Time
	expires   time.Time
	maxEnd    time.Time
	ttl       time.Duration
	revoked   bool
	renewable bool
	plugin    DBPlugin
}

type token struct {
	id, accessor string
	policies     []string
	issued       time.Time
	expires      time.Time // zero: never
	maxEnd       time.Time // zero: none
	ttl          time.Duration
	renewable    bool
	revoked      bool
	method       string
	entity       string // identity entity ID; empty for tokens made without a login
}

// AppRole is an AppRole role: its credentials and the tokens it issues.
type AppRole struct {
	RoleID, SecretID string
	TokenTTL         time.Duration
	TokenMaxTTL      time.Duration
}

// LoginRole is a Kubernetes or JWT role: the JWT it accepts and the tokens
// it issues.
type LoginRole struct {
	JWT         string
	TokenTTL    time.Duration
	TokenMaxTTL time.Duration
}

// Fault is an injected failure of the requests whose path (without /v1/)
// starts with Path.
type Fault struct {
	Path string
	// Status is the HTTP status answered (500 when zero).
	Status int
	// Errors is Vault's errors array in the body.
	Errors []string
	// RetryAfter sets the Retry-After header (a 429 of a rate-limit quota).
	RetryAfter time.Duration
	// Times limits the fault to the next n requests; 0 means every one.
	Times int
}

// New starts a fake with a "secret" KV v2 mount, a "kv" KV v1 mount and a
// "database" dynamic mount, using clock for every TTL (nil: the system
// clock).
func New(clock credential.Clock) *Server {
	s := &Server{
		clock:    credential.ClockOrSystem(clock),
		kv:       map[string]*kvMount{"secret": {version: 2, secrets: map[string]*kvSecret{}}, "kv": {version: 1, secrets: map[string]*kvSecret{}}},
		dbs:      map[string]*dbMount{"database": {roles: map[string]DBRole{}}},
		leases:   map[string]*lease{},
		tokens:   map[string]*token{},
		approles: map[string]AppRole{},
		k8s:      map[string]LoginRole{},
		jwt:      map[string]LoginRole{},
		denied:   map[string]bool{},
		calls:    map[string]int{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// RootToken creates a token that never expires and returns it.
func (s *Server) RootToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issue("token", 0, 0, false).id
}

// Token creates a renewable token with ttl and max TTL and returns it.
func (s *Server) Token(ttl, maxTTL time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issue("token", ttl, maxTTL, true).id
}

// RevokeToken revokes a token, and the leases it created.
func (s *Server) RevokeToken(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[id]; ok {
		t.revoked = true
		s.revokeChildren(id)
	}
}

// ActiveTokens returns how many tokens are neither revoked nor expired.
func (s *Server) ActiveTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	now := s.clock.Now()
	for _, t := range s.tokens {
		if s.valid(t, now) {
			n++
		}
	}
	return n
}

// Mount adds a KV mount of version 1 or 2.
func (s *Server) Mount(name string, version int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kv[name] = &kvMount{version: version, secrets: map[string]*kvSecret{}}
}

// Put writes data as a new version of the KV secret at mount/path.
func (s *Server) Put(mount, path string, data map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(s.kv[mount], path, data)
}

func (s *Server) put(m *kvMount, path string, data map[string]any) int {
	now := s.clock.Now()
	sec := m.secrets[path]
	if sec == nil {
		sec = &kvSecret{created: now}
		m.secrets[path] = sec
	}
	sec.updated = now
	if m.version == 1 {
		sec.v1 = data
		return 0
	}
	sec.versions = append(sec.versions, &kvVersion{data: data, created: now})
	return len(sec.versions)
}

// SetCustomMetadata sets the custom_metadata of a KV v2 secret.
func (s *Server) SetCustomMetadata(mount, path string, md map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.kv[mount].secrets[path]; sec != nil {
		sec.custom = md
	}
}

// SoftDelete marks the latest version of a KV v2 secret deleted (KV v1:
// removes the secret).
func (s *Server) SoftDelete(mount, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.softDelete(s.kv[mount], path, nil)
}

func (s *Server) softDelete(m *kvMount, path string, versions []int) {
	sec := m.secrets[path]
	if sec == nil {
		return
	}
	if m.version == 1 {
		delete(m.secrets, path)
		return
	}
	if len(versions) == 0 && len(sec.versions) > 0 {
		versions = []int{len(sec.versions)}
	}
	for _, v := range versions {
		if v >= 1 && v <= len(sec.versions) {
			sec.versions[v-1].deleted = s.clock.Now()
		}
	}
}

// Destroy destroys the latest version of a KV v2 secret.
func (s *Server) Destroy(mount, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.destroy(s.kv[mount], path, nil)
}

func (s *Server) destroy(m *kvMount, path string, versions []int) {
	sec := m.secrets[path]
	if sec == nil {
		return
	}
	if len(versions) == 0 && len(sec.versions) > 0 {
		versions = []int{len(sec.versions)}
	}
	for _, v := range versions {
		if v >= 1 && v <= len(sec.versions) {
			sec.versions[v-1].destroyed = true
			sec.versions[v-1].data = nil
		}
	}
}

// DeleteAll removes a KV secret with all its versions and metadata.
func (s *Server) DeleteAll(mount, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.kv[mount].secrets, path)
}

// DBRole adds (or replaces) a role of the dynamic database engine mounted
// at "database".
func (s *Server) DBRole(name string, r DBRole) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dbs["database"].roles[name] = r
}

// AddAppRole adds an AppRole role.
func (s *Server) AddAppRole(name string, r AppRole) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approles[name] = r
}

// AddKubernetesRole adds a role of the Kubernetes auth method.
func (s *Server) AddKubernetesRole(name string, r LoginRole) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.k8s[name] = r
}

// AddJWTRole adds a role of the JWT/OIDC auth method.
func (s *Server) AddJWTRole(name string, r LoginRole) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwt[name] = r
}

// Deny makes every request to path (without /v1/) answer 403 permission
// denied, as an ACL policy without the capability does.
func (s *Server) Deny(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[path] = true
}

// Allow lifts a Deny.
func (s *Server) Allow(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.denied, path)
}

// Seal makes every request answer 503 "Vault is sealed", as a sealed Vault
// does; Unseal lifts it.
func (s *Server) Seal() { s.mu.Lock(); s.sealed = true; s.mu.Unlock() }

// Unseal lifts Seal.
func (s *Server) Unseal() { s.mu.Lock(); s.sealed = false; s.mu.Unlock() }

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Calls returns how many requests were made as "METHOD path" (path without
// /v1/ and without the query; PUT and POST both count as "PUT"), e.g.
// "GET secret/data/openai", "PUT sys/leases/renew",
// "PUT auth/approle/login". A request sent with an X-Vault-Namespace
// header is also counted as "[NS] METHOD path". (Namespaces are counted,
// not separated: every namespace sees the same secrets.)
func (s *Server) Calls(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

// CallsWithPrefix sums the counters whose key starts with prefix.
func (s *Server) CallsWithPrefix(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.calls {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// LeaseInfo describes a lease of the dynamic engine and the credentials
// it carries.
type LeaseInfo struct {
	ID                 string
	Username, Password string
	Issued, Expires    time.Time
	Revoked            bool
}

// Leases returns the leases issued so far, in issue order.
func (s *Server) Leases() []LeaseInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LeaseInfo
	for _, l := range s.leases {
		out = append(out, LeaseInfo{ID: l.id, Username: l.username, Password: l.password, Issued: l.issued, Expires: l.expires, Revoked: l.revoked})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Issued.Before(out[j].Issued) || (out[i].Issued.Equal(out[j].Issued) && out[i].ID < out[j].ID)
	})
	return out
}

// LeaseValid reports whether the lease exists, is not revoked and has not
// expired: whether the credentials it carries still work.
func (s *Server) LeaseValid(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[id]
	return ok && !l.revoked && s.clock.Now().Before(l.expires)
}

func (s *Server) randID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// issue creates a token; s.mu is held.
func (s *Server) issue(method string, ttl, maxTTL time.Duration, renewable bool) *token {
	now := s.clock.Now()
	t := &token{id: "hvs.FAKE" + s.randID(12), accessor: "acc-" + s.randID(6), issued: now, ttl: ttl, renewable: renewable, method: method, policies: []string{"default"}}
	if maxTTL > 0 {
		t.maxEnd = now.Add(maxTTL)
	}
	if ttl > 0 {
		t.expires = capAt(now.Add(ttl), t.maxEnd)
	}
	s.tokens[t.id] = t
	return t
}

func capAt(t, max time.Time) time.Time {
	if !max.IsZero() && t.After(max) {
		return max
	}
	return t
}

func (s *Server) valid(t *token, now time.Time) bool {
	return !t.revoked && (t.expires.IsZero() || now.Before(t.expires))
}

func (s *Server) revokeChildren(tok string) {
	for _, l := range s.leases {
		if l.token == tok {
			_ = s.revokeLease(l)
		}
	}
}

// revokeLease marks l revoked and drops its database user; s.mu is held.
func (s *Server) revokeLease(l *lease) error {
	if l.revoked {
		return nil
	}
	l.revoked = true
	if l.plugin != nil {
		return l.plugin.RevokeUser(l.username)
	}
	return nil
}

// Expire does what Vault's expiration manager does when a lease's time is
// up: every lease past its expiry (on the fake's clock) is revoked, and its
// role's [DBPlugin] drops the user. It returns how many leases it revoked.
// Tests call it after moving the clock.
func (s *Server) Expire() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var errs []error
	n := 0
	for _, l := range s.leases {
		if !l.revoked && !now.Before(l.expires) {
			n++
			if err := s.revokeLease(l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return n, errors.Join(errs...)
}

// reply writes Vault's JSON.
func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func replyErr(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	reply(w, status, map[string]any{"errors": msgs})
}

func secs(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(d / time.Second)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	method := r.Method
	if method == http.MethodPost {
		method = http.MethodPut
	}
	if r.Method == "LIST" || r.URL.Query().Get("list") == "true" {
		method = "LIST"
	}
	var body map[string]any
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				replyErr(w, http.StatusBadRequest, "failed to parse JSON input")
				return
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method+" "+path]++
	if ns := r.Header.Get("X-Vault-Namespace"); ns != "" {
		s.calls["["+ns+"] "+method+" "+path]++
	}
	now := s.clock.Now()
	if s.sealed {
		replyErr(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	for i, f := range s.faults {
		if strings.HasPrefix(path, f.Path) {
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					s.faults = append(s.faults[:i], s.faults[i+1:]...)
				}
			}
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.FormatInt(secs(f.RetryAfter), 10))
			}
			st := f.Status
			if st == 0 {
				st = http.StatusInternalServerError
			}
			replyErr(w, st, f.Errors...)
			return
		}
	}
	if strings.HasPrefix(path, "auth/") && strings.HasSuffix(path, "/login") {
		s.login(w, path, body)
		return
	}
	tok := s.tokens[r.Header.Get("X-Vault-Token")]
	if tok == nil || !s.valid(tok, now) || s.denied[path] {
		replyErr(w, http.StatusForbidden, "permission denied")
		return
	}
	switch {
	case path == "auth/token/lookup-self" && method == http.MethodGet:
		reply(w, 200, map[string]any{"data": s.tokenData(tok, now)})
	case path == "auth/token/renew-self" && method == http.MethodPut:
		s.renewSelf(w, tok, body, now)
	case path == "auth/token/revoke-self" && method == http.MethodPut:
		tok.revoked = true
		s.revokeChildren(tok.id)
		w.WriteHeader(http.StatusNoContent)
	case path == "sys/leases/renew" && method == http.MethodPut:
		s.renewLease(w, body, now)
	case path == "sys/leases/revoke" && method == http.MethodPut:
		id, _ := body["lease_id"].(string)
		if l, ok := s.leases[id]; ok {
			if err := s.revokeLease(l); err != nil {
				replyErr(w, http.StatusInternalServerError, "failed to revoke lease")
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	case path == "sys/leases/lookup" && method == http.MethodPut:
		id, _ := body["lease_id"].(string)
		l, ok := s.leases[id]
		if !ok || l.revoked || !now.Before(l.expires) {
			replyErr(w, http.StatusBadRequest, "invalid lease")
			return
		}
		reply(w, 200, map[string]any{"data": map[string]any{"id": l.id, "issue_time": l.issued.Format(time.RFC3339Nano), "expire_time": l.expires.Format(time.RFC3339Nano), "ttl": secs(l.expires.Sub(now)), "renewable": l.renewable}})
	case strings.HasPrefix(path, "sys/internal/ui/mounts/"):
		s.preflight(w, strings.TrimPrefix(path, "sys/internal/ui/mounts/"))
	default:
		s.secret(w, method, path, r, body, tok, now)
	}
}

func (s *Server) tokenData(t *token, now time.Time) map[string]any {
	d := map[string]any{
		"accessor": t.accessor, "policies": t.policies, "renewable": t.renewable,
		"creation_time": t.issued.Unix(), "creation_ttl": secs(t.ttl), "ttl": 0, "explicit_max_ttl": 0,
		"expire_time": nil, "path": "auth/" + t.method + "/login", "meta": nil, "entity_id": t.entity,
	}
	if !t.expires.IsZero() {
		d["ttl"] = secs(t.expires.Sub(now))
		d["expire_time"] = t.expires.Format(time.RFC3339Nano)
	}
	return d
}

func authBody(t *token, now time.Time) map[string]any {
	return map[string]any{"auth": map[string]any{
		"client_token": t.id, "accessor": t.accessor, "policies": t.policies, "token_policies": t.policies,
		"lease_duration": secs(t.expires.Sub(now)), "renewable": t.renewable, "metadata": map[string]string{"method": t.method},
		"entity_id": t.entity,
	}}
}

// EntityID is the identity entity ID the fake gives the tokens of a login
// with method ("approle", "kubernetes", "jwt") as role: a UUID derived from
// them, the same at every login, as Vault's entity of an alias is.
func EntityID(method, role string) string {
	h := sha256.Sum256([]byte(method + "/" + role))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func (s *Server) renewSelf(w http.ResponseWriter, t *token, body map[string]any, now time.Time) {
	if !t.renewable || t.expires.IsZero() {
		replyErr(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	inc := t.ttl
	if f, ok := body["increment"].(float64); ok && f > 0 {
		inc = time.Duration(f) * time.Second
	}
	t.expires = capAt(now.Add(inc), t.maxEnd)
	reply(w, 200, authBody(t, now))
}

func (s *Server) renewLease(w http.ResponseWriter, body map[string]any, now time.Time) {
	id, _ := body["lease_id"].(string)
	l, ok := s.leases[id]
	if !ok || l.revoked || !now.Before(l.expires) {
		replyErr(w, http.StatusBadRequest, "lease not found or lease is not renewable")
		return
	}
	inc := l.ttl
	if f, ok := body["increment"].(float64); ok && f > 0 {
		inc = time.Duration(f) * time.Second
	}
	expires := capAt(now.Add(inc), l.maxEnd)
	if l.plugin != nil {
		if err := l.plugin.RenewUser(l.username, expires); err != nil {
			replyErr(w, http.StatusInternalServerError, "failed to renew lease")
			return
		}
	}
	l.expires = expires
	reply(w, 200, map[string]any{"lease_id": l.id, "lease_duration": secs(l.expires.Sub(now)), "renewable": l.renewable, "data": nil})
}

func (s *Server) login(w http.ResponseWriter, path string, body map[string]any) {
	str := func(k string) string { v, _ := body[k].(string); return v }
	var ttl, maxTTL time.Duration
	var method, who string
	switch path {
	case "auth/approle/login":
		ok := false
		for name, r := range s.approles {
			if r.RoleID != "" && r.RoleID == str("role_id") && r.SecretID == str("secret_id") {
				ok, ttl, maxTTL, who = true, r.TokenTTL, r.TokenMaxTTL, name
			}
		}
		if !ok {
			replyErr(w, http.StatusBadRequest, "invalid role or secret ID")
			return
		}
		method = "approle"
	case "auth/kubernetes/login", "auth/jwt/login":
		roles := s.k8s
		method = "kubernetes"
		if path == "auth/jwt/login" {
			roles, method = s.jwt, "jwt"
		}
		r, ok := roles[str("role")]
		if !ok || r.JWT == "" || r.JWT != str("jwt") {
			replyErr(w, http.StatusForbidden, "permission denied")
			return
		}
		ttl, maxTTL, who = r.TokenTTL, r.TokenMaxTTL, str("role")
	default:
		replyErr(w, http.StatusNotFound)
		return
	}
	t := s.issue(method, ttl, maxTTL, true)
	t.entity = EntityID(method, who)
	reply(w, 200, authBody(t, t.issued))
}

func (s *Server) preflight(w http.ResponseWriter, path string) {
	mount, _, _ := strings.Cut(path, "/")
	if m, ok := s.kv[mount]; ok {
		reply(w, 200, map[string]any{"data": map[string]any{"type": "kv", "path": mount + "/", "options": map[string]string{"version": strconv.Itoa(m.version)}}})
		return
	}
	if _, ok := s.dbs[mount]; ok {
		reply(w, 200, map[string]any{"data": map[string]any{"type": "database", "path": mount + "/", "options": nil}})
		return
	}
	replyErr(w, http.StatusForbidden, "permission denied")
}

func (s *Server) secret(w http.ResponseWriter, method, path string, r *http.Request, body map[string]any, tok *token, now time.Time) {
	mount, rest, _ := strings.Cut(path, "/")
	if db, ok := s.dbs[mount]; ok {
		role, isCreds := strings.CutPrefix(rest, "creds/")
		rc, ok := db.roles[role]
		if !isCreds || method != http.MethodGet || !ok {
			replyErr(w, http.StatusNotFound)
			return
		}
		s.seq++
		l := &lease{id: fmt.Sprintf("%s/creds/%s/%s", mount, role, s.randID(8)), token: tok.id, issued: now, ttl: rc.DefaultTTL, renewable: true}
		l.maxEnd = now.Add(rc.MaxTTL)
		l.expires = capAt(now.Add(rc.DefaultTTL), l.maxEnd)
		l.username, l.password = fmt.Sprintf("v-token-%s-%04d", role, s.seq), "FAKE-pw-"+s.randID(10)
		if rc.Plugin != nil {
			// The user exists before its credentials are handed out.
			if err := rc.Plugin.NewUser(l.username, l.password, l.expires); err != nil {
				replyErr(w, http.StatusInternalServerError, "failed to create user")
				return
			}
			l.plugin = rc.Plugin
		}
		s.leases[l.id] = l
		reply(w, 200, map[string]any{
			"lease_id": l.id, "lease_duration": secs(rc.DefaultTTL), "renewable": true,
			"data": map[string]any{"username": l.username, "password": l.password},
		})
		return
	}
	m, ok := s.kv[mount]
	if !ok {
		replyErr(w, http.StatusNotFound, "no handler for route \""+path+"\"")
		return
	}
	if m.version == 1 {
		switch method {
		case http.MethodGet:
			sec := m.secrets[rest]
			if sec == nil {
				replyErr(w, http.StatusNotFound)
				return
			}
			reply(w, 200, map[string]any{"data": sec.v1, "lease_duration": 2764800, "lease_id": "", "renewable": false})
		case http.MethodPut:
			s.put(m, rest, dataOf(body, false))
			w.WriteHeader(http.StatusNoContent)
		case http.MethodDelete:
			delete(m.secrets, rest)
			w.WriteHeader(http.StatusNoContent)
		default:
			replyErr(w, http.StatusMethodNotAllowed)
		}
		return
	}
	kind, p, _ := strings.Cut(rest, "/")
	sec := m.secrets[p]
	switch {
	case kind == "data" && method == http.MethodGet:
		if sec == nil || len(sec.versions) == 0 {
			replyErr(w, http.StatusNotFound)
			return
		}
		n := len(sec.versions)
		if q := r.URL.Query().Get("version"); q != "" && q != "0" {
			n, _ = strconv.Atoi(q)
			if n < 1 || n > len(sec.versions) {
				replyErr(w, http.StatusNotFound)
				return
			}
		}
		v := sec.versions[n-1]
		md := map[string]any{"created_time": v.created.Format(time.RFC3339Nano), "custom_metadata": sec.custom, "deletion_time": "", "destroyed": v.destroyed, "version": n}
		if !v.deleted.IsZero() {
			md["deletion_time"] = v.deleted.Format(time.RFC3339Nano)
		}
		if v.destroyed || !v.deleted.IsZero() {
			reply(w, http.StatusNotFound, map[string]any{"data": map[string]any{"data": nil, "metadata": md}})
			return
		}
		reply(w, 200, map[string]any{"data": map[string]any{"data": v.data, "metadata": md}, "lease_duration": 0, "lease_id": "", "renewable": false})
	case kind == "data" && method == http.MethodPut:
		n := s.put(m, p, dataOf(body, true))
		reply(w, 200, map[string]any{"data": map[string]any{"version": n, "created_time": now.Format(time.RFC3339Nano)}})
	case kind == "data" && method == http.MethodDelete:
		s.softDelete(m, p, nil)
		w.WriteHeader(http.StatusNoContent)
	case (kind == "delete" || kind == "destroy") && method == http.MethodPut:
		var vs []int
		if a, ok := body["versions"].([]any); ok {
			for _, x := range a {
				if f, ok := x.(float64); ok {
					vs = append(vs, int(f))
				}
			}
		}
		if kind == "delete" {
			s.softDelete(m, p, vs)
		} else {
			s.destroy(m, p, vs)
		}
		w.WriteHeader(http.StatusNoContent)
	case kind == "metadata" && method == http.MethodGet:
		if sec == nil {
			replyErr(w, http.StatusNotFound)
			return
		}
		versions := map[string]any{}
		for i, v := range sec.versions {
			dt := ""
			if !v.deleted.IsZero() {
				dt = v.deleted.Format(time.RFC3339Nano)
			}
			versions[strconv.Itoa(i+1)] = map[string]any{"created_time": v.created.Format(time.RFC3339Nano), "deletion_time": dt, "destroyed": v.destroyed}
		}
		reply(w, 200, map[string]any{"data": map[string]any{
			"current_version": len(sec.versions), "oldest_version": 0, "max_versions": 0,
			"created_time": sec.created.Format(time.RFC3339Nano), "updated_time": sec.updated.Format(time.RFC3339Nano),
			"custom_metadata": sec.custom, "versions": versions,
		}})
	case kind == "metadata" && method == http.MethodPut:
		if sec == nil {
			sec = &kvSecret{created: now, updated: now}
			m.secrets[p] = sec
		}
		if cm, ok := body["custom_metadata"].(map[string]any); ok {
			sec.custom = map[string]string{}
			for k, v := range cm {
				sec.custom[k], _ = v.(string)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	case kind == "metadata" && method == http.MethodDelete:
		delete(m.secrets, p)
		w.WriteHeader(http.StatusNoContent)
	default:
		replyErr(w, http.StatusNotFound)
	}
}

// dataOf returns the secret data of a write: body["data"] for KV v2, the
// body itself for KV v1.
func dataOf(body map[string]any, v2 bool) map[string]any {
	if !v2 {
		return body
	}
	d, _ := body["data"].(map[string]any)
	return d
}
