package vault

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/credkit/credkit/credential"
)

// Auth logs in to Vault. The provider calls Login when it has no token,
// when its token reaches its max TTL or is revoked, and once after a 403;
// it renews the token in between with renew-self. Implementations must be
// safe for concurrent use and must not log or wrap the token in an error.
// [TokenAuth], [AppRoleAuth], [KubernetesAuth] and [JWTAuth] are provided.
type Auth interface {
	// Method names the auth method ("token", "approle", "kubernetes",
	// "jwt"), for status and logs.
	Method() string
	// Login returns a token: its Auth holds the client token, its
	// lease_duration (TTL, 0 for none) and whether it is renewable.
	Login(ctx context.Context, c *api.Client) (*api.SecretAuth, error)
}

// readSource returns an inline secret, else a file's content (trimmed),
// else an environment variable's.
func readSource(inline credential.Secret, file, env string) (string, error) {
	if !inline.IsZero() {
		return inline.Reveal(), nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			kind := credential.ErrUnavailable
			if errors.Is(err, os.ErrNotExist) {
				kind = credential.ErrNotFound
			} else if errors.Is(err, os.ErrPermission) {
				kind = credential.ErrPermission
			}
			return "", &credential.Error{Op: "login", Ref: file, Kind: kind, Reason: "cannot read the file"}
		}
		return strings.TrimSpace(string(b)), nil
	}
	if env != "" {
		if v, ok := os.LookupEnv(env); ok {
			return strings.TrimSpace(v), nil
		}
		return "", &credential.Error{Op: "login", Ref: "env://" + env, Kind: credential.ErrNotFound, Reason: "the variable is not set"}
	}
	return "", nil
}

// login posts body to auth/MOUNT/login without a token.
func login(ctx context.Context, c *api.Client, method, mount string, body map[string]any) (*api.SecretAuth, error) {
	if mount == "" {
		mount = method
	}
	r := c.NewRequest(http.MethodPut, "/v1/auth/"+strings.Trim(mount, "/")+"/login")
	r.ClientToken = ""
	if err := r.SetJSONBody(body); err != nil {
		return nil, &credential.Error{Op: "login", Kind: credential.ErrInvalid, Reason: "cannot encode the login"}
	}
	resp, err := c.RawRequestWithContext(ctx, r) //nolint:staticcheck // the raw form keeps the status
	status := 0
	if resp != nil {
		defer resp.Body.Close()
		status = resp.StatusCode
	}
	if err != nil {
		err = mapErr("login", "auth/"+mount, status, err)
		if ce, ok := err.(*credential.Error); ok && ce.Kind == credential.ErrInvalid {
			ce.Kind, ce.Reason = credential.ErrPermission, "Vault refused the login"
		}
		return nil, err
	}
	sec, err := api.ParseSecret(io.LimitReader(resp.Body, 1<<20))
	if err != nil || sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, &credential.Error{Op: "login", Ref: "auth/" + mount, Kind: credential.ErrUnavailable, Reason: "Vault's login answer has no token"}
	}
	return sec.Auth, nil
}

// TokenAuth uses a token given to the process: inline, in a file (a Vault
// Agent sink, read again at each re-login so the agent's new token is
// picked up) or in an environment variable. The token is looked up
// (lookup-self) to learn its TTL and renewed with renew-self while it is
// renewable; it cannot be replaced once it reaches its max TTL or is
// revoked, unless the file holds a new one.
type TokenAuth struct {
	Token credential.Secret
	File  string
	Env   string
}

// Method returns "token".
func (a *TokenAuth) Method() string { return "token" }

// Login looks the token up.
func (a *TokenAuth) Login(ctx context.Context, c *api.Client) (*api.SecretAuth, error) {
	tok, err := readSource(a.Token, a.File, a.Env)
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, &credential.Error{Op: "login", Kind: credential.ErrPermission, Reason: "no Vault token (set VAULT_TOKEN or configure an auth method)"}
	}
	r := c.NewRequest(http.MethodGet, "/v1/auth/token/lookup-self")
	r.ClientToken = tok
	resp, err := c.RawRequestWithContext(ctx, r) //nolint:staticcheck // the raw form keeps the status
	status := 0
	if resp != nil {
		defer resp.Body.Close()
		status = resp.StatusCode
	}
	if err != nil {
		return nil, mapErr("login", "auth/token/lookup-self", status, err)
	}
	sec, err := api.ParseSecret(io.LimitReader(resp.Body, 1<<20))
	if err != nil || sec == nil {
		return nil, &credential.Error{Op: "login", Ref: "auth/token/lookup-self", Kind: credential.ErrUnavailable, Reason: "Vault's lookup answer is malformed"}
	}
	renewable, _ := sec.Data["renewable"].(bool)
	entity, _ := sec.Data["entity_id"].(string)
	return &api.SecretAuth{ClientToken: tok, Accessor: "", LeaseDuration: intOf(sec.Data["ttl"]), Renewable: renewable, EntityID: entity}, nil
}

// AppRoleAuth logs in with AppRole: a role_id and a secret_id, each inline,
// from a file or from an environment variable (the first set wins). Mount
// defaults to "approle".
type AppRoleAuth struct {
	Mount                     string
	RoleID                    credential.Secret
	RoleIDFile, RoleIDEnv     string
	SecretID                  credential.Secret
	SecretIDFile, SecretIDEnv string
}

// Method returns "approle".
func (a *AppRoleAuth) Method() string { return "approle" }

// Login posts to auth/approle/login.
func (a *AppRoleAuth) Login(ctx context.Context, c *api.Client) (*api.SecretAuth, error) {
	role, err := readSource(a.RoleID, a.RoleIDFile, a.RoleIDEnv)
	if err != nil {
		return nil, err
	}
	sid, err := readSource(a.SecretID, a.SecretIDFile, a.SecretIDEnv)
	if err != nil {
		return nil, err
	}
	if role == "" {
		return nil, &credential.Error{Op: "login", Ref: "auth/approle", Kind: credential.ErrInvalid, Reason: "no role_id"}
	}
	body := map[string]any{"role_id": role}
	if sid != "" {
		body["secret_id"] = sid
	}
	return login(ctx, c, "approle", a.Mount, body)
}

// DefaultServiceAccountTokenFile is where Kubernetes mounts a pod's
// service-account token.
const DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// KubernetesAuth logs in with the pod's service-account token, read from
// TokenFile (default DefaultServiceAccountTokenFile) at each login, since
// the kubelet rotates it. Mount defaults to "kubernetes".
type KubernetesAuth struct {
	Mount, Role, TokenFile string
}

// Method returns "kubernetes".
func (a *KubernetesAuth) Method() string { return "kubernetes" }

// Login posts to auth/kubernetes/login.
func (a *KubernetesAuth) Login(ctx context.Context, c *api.Client) (*api.SecretAuth, error) {
	f := a.TokenFile
	if f == "" {
		f = DefaultServiceAccountTokenFile
	}
	jwt, err := readSource(credential.Secret{}, f, "")
	if err != nil {
		return nil, err
	}
	return login(ctx, c, "kubernetes", a.Mount, map[string]any{"role": a.Role, "jwt": jwt})
}

// JWTAuth logs in with a JWT (an OIDC ID token from the platform: a CI
// job's, a cloud workload identity's), inline, from a file read at each
// login, or from an environment variable. Mount defaults to "jwt".
type JWTAuth struct {
	Mount, Role string
	JWT         credential.Secret
	File, Env   string
}

// Method returns "jwt".
func (a *JWTAuth) Method() string { return "jwt" }

// Login posts to auth/jwt/login.
func (a *JWTAuth) Login(ctx context.Context, c *api.Client) (*api.SecretAuth, error) {
	jwt, err := readSource(a.JWT, a.File, a.Env)
	if err != nil {
		return nil, err
	}
	if jwt == "" {
		return nil, &credential.Error{Op: "login", Ref: "auth/jwt", Kind: credential.ErrInvalid, Reason: "no JWT"}
	}
	return login(ctx, c, "jwt", a.Mount, map[string]any{"role": a.Role, "jwt": jwt})
}

// tokenState is an immutable snapshot of the token held.
type tokenState struct {
	token     string
	gen       uint64
	issued    time.Time // of this token
	renewed   time.Time // last login or renewal
	expires   time.Time // zero: no TTL
	ttl       time.Duration
	renewable bool
	capped    bool   // renewal no longer extends it: log in again before expiry
	entity    string // the Vault identity entity the token belongs to, if any
}

// AuthStatus is the state of the provider's Vault token. It holds no token.
type AuthStatus struct {
	// Method is the auth method ("token", "approle", ...).
	Method string
	// Authenticated reports whether a token is held and has not expired.
	Authenticated bool
	// Issued is when the token was obtained; Expires when it lapses unless
	// renewed (zero: no TTL).
	Issued, Expires time.Time
	// Renewable reports whether renew-self extends it; MaxTTLReached that
	// it no longer does, so the next step is a new login.
	Renewable, MaxTTLReached bool
	// Logins and Renewals count successful logins and renewals.
	Logins, Renewals int
	// LastLogin and LastRenewal are when they last succeeded.
	LastLogin, LastRenewal time.Time
	// LastError is the kind of the last failure ("permission",
	// "unavailable"...), empty after a success.
	LastError string
	// FailingSince is when the current run of failures began.
	FailingSince time.Time
	// EntityID is the Vault identity entity the token belongs to (empty
	// when Vault gives none, as for a root token).
	EntityID string
}

type loginCall struct {
	done chan struct{}
	st   *tokenState
	err  error
}

// tokenManager keeps the provider's token: it logs in on demand, renews
// ahead of expiry in a goroutine, and logs in again at max TTL, on revoke
// and once after a 403.
type tokenManager struct {
	p    *Provider
	auth Auth
	cur  atomic.Pointer[tokenState]
	kick chan struct{}

	mu       sync.Mutex
	flight   *loginCall
	gen      uint64
	relogged uint64 // the generation a 403 already replaced
	started  bool
	status   AuthStatus
}

// token returns the token to use, logging in when there is none or it has
// expired.
func (m *tokenManager) token(ctx context.Context) (*tokenState, error) {
	if st := m.cur.Load(); st != nil && (st.expires.IsZero() || m.p.now().Before(st.expires)) {
		return st, nil
	}
	return m.login(ctx, 0)
}

// login logs in, shared among concurrent callers. unless is a generation:
// when the token held is already newer, it is returned without a login.
func (m *tokenManager) login(ctx context.Context, unless uint64) (*tokenState, error) {
	m.mu.Lock()
	if st := m.cur.Load(); unless != 0 && st != nil && st.gen > unless {
		m.mu.Unlock()
		return st, nil
	}
	f := m.flight
	if f == nil {
		f = &loginCall{done: make(chan struct{})}
		if !m.p.spawn(func() { m.doLogin(f) }) {
			m.mu.Unlock()
			return nil, &credential.Error{Op: "login", Kind: credential.ErrClosed}
		}
		m.flight = f
	}
	m.mu.Unlock()
	select {
	case <-f.done:
		return f.st, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// doLogin runs one login, detached from its first caller's context (other
// callers share it) but bounded by the provider's.
func (m *tokenManager) doLogin(f *loginCall) {
	ctx, cancel := context.WithTimeout(m.p.ctx, 30*time.Second)
	defer cancel()
	a, err := m.auth.Login(ctx, m.p.c)
	if err == nil && (a == nil || a.ClientToken == "") {
		err = &credential.Error{Op: "login", Kind: credential.ErrUnavailable, Reason: m.auth.Method() + " login returned no token"}
	}
	if err != nil && ctx.Err() == nil {
		if ce := (*credential.Error)(nil); !errors.As(err, &ce) {
			// A custom Auth's error is not ours to vouch for: its text may
			// quote what it sent. Only its kind is kept.
			err = &credential.Error{Op: "login", Kind: credential.ErrPermission, Reason: m.auth.Method() + " login failed"}
		}
	}
	now := m.p.now()
	m.mu.Lock()
	var st *tokenState
	if err != nil {
		m.failed(now, err)
	} else {
		m.gen++
		st = &tokenState{token: a.ClientToken, gen: m.gen, issued: now, renewed: now, renewable: a.Renewable, ttl: time.Duration(a.LeaseDuration) * time.Second, entity: identifier(a.EntityID)}
		if st.ttl > 0 {
			st.expires = now.Add(st.ttl)
		}
		m.cur.Store(st)
		m.status.Logins++
		m.status.LastLogin = now
		m.status.LastError, m.status.FailingSince = "", time.Time{}
		if !m.started {
			m.started = m.p.spawn(m.loop)
		}
	}
	logins := m.status.Logins
	m.flight = nil
	f.st, f.err = st, err
	m.mu.Unlock()
	close(f.done)
	if err != nil {
		m.p.o.logger.Warn("credkit: Vault login failed", "method", m.auth.Method(), "error_kind", credential.KindName(err))
		return
	}
	if logins > 1 {
		m.p.o.logger.Info("credkit: Vault login replaced the token", "method", m.auth.Method(), "ttl", st.ttl)
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
	m.p.leases.notify(tokenKey)
}

func (m *tokenManager) failed(now time.Time, err error) {
	m.status.LastError = credential.KindName(err)
	if m.status.FailingSince.IsZero() {
		m.status.FailingSince = now
	}
}

// after403 decides what a 403 means. The token is looked up
// (lookup-self): when it is still valid, the policy denies the path and
// nothing else is done; when it is not (revoked, expired early), the
// provider logs in again, once per token generation, and the request is
// retried with the new token.
func (m *tokenManager) after403(ctx context.Context, used *tokenState) (*tokenState, bool) {
	if used == nil {
		return nil, false
	}
	if st := m.cur.Load(); st != nil && st.gen > used.gen {
		return st, true // another caller already logged in again
	}
	r := m.p.c.NewRequest(http.MethodGet, "/v1/auth/token/lookup-self")
	r.ClientToken = used.token
	resp, err := m.p.c.RawRequestWithContext(ctx, r) //nolint:staticcheck // the raw form keeps the status
	status := 0
	if resp != nil {
		resp.Body.Close()
		status = resp.StatusCode
	}
	if err == nil || status != http.StatusForbidden {
		return nil, false // the token is fine (or Vault is failing): the path is denied
	}
	m.mu.Lock()
	if m.relogged >= used.gen {
		m.mu.Unlock()
		return nil, false
	}
	m.relogged = used.gen
	m.mu.Unlock()
	m.p.o.logger.Info("credkit: the Vault token was revoked or expired early; logging in again", "method", m.auth.Method())
	st, err := m.login(ctx, used.gen)
	if err != nil || st.gen == used.gen {
		return nil, false
	}
	return st, true
}

// loop renews the token at two thirds of its remaining TTL (less jitter),
// and logs in again when renewal no longer extends it or fails with a 403.
func (m *tokenManager) loop() {
	var t lazyTimer
	defer t.stop()
	failures := 0
	var retryAt, plannedAt time.Time
	var planned *tokenState
	for {
		st := m.cur.Load()
		idle := st == nil || st.expires.IsZero() || (st.capped && !m.canRelogin())
		if idle {
			t.stop()
		} else {
			if planned != st {
				// One jittered deadline per token state: a wake-up that
				// changes nothing keeps it.
				planned, plannedAt = st, st.renewed.Add(m.p.twoThirds(st.expires.Sub(st.renewed)))
			}
			at := plannedAt
			if !retryAt.IsZero() {
				at = retryAt
			}
			t.at(m.p.o.clock, at)
		}
		select {
		case <-m.p.ctx.Done():
			return
		case <-m.kick:
			retryAt, failures = time.Time{}, 0
			continue
		case <-t.c():
			t.fired()
		}
		if idle || m.cur.Load() != st {
			continue // nothing to do, or a login replaced the token: plan again
		}
		err := m.step(st)
		if err == nil {
			failures, retryAt = 0, time.Time{}
			continue
		}
		failures++
		now := m.p.now()
		d := min(time.Second<<min(failures-1, 6), time.Minute)
		if rem := st.expires.Sub(now) / 3; rem > 0 && d > rem {
			d = rem
		}
		retryAt = now.Add(max(d, time.Second))
	}
}

// canRelogin reports whether a login can bring a new token: not for a
// token given inline or in the environment.
func (m *tokenManager) canRelogin() bool {
	if t, ok := m.auth.(*TokenAuth); ok {
		return t.File != ""
	}
	return true
}

// step renews the token, or logs in again.
func (m *tokenManager) step(st *tokenState) error {
	ctx, cancel := context.WithTimeout(m.p.ctx, 30*time.Second)
	defer cancel()
	if !st.renewable || st.capped {
		_, err := m.login(ctx, st.gen)
		return err
	}
	r := m.p.c.NewRequest(http.MethodPut, "/v1/auth/token/renew-self")
	r.ClientToken = st.token
	_ = r.SetJSONBody(map[string]any{"increment": int64(st.ttl / time.Second)})
	resp, err := m.p.c.RawRequestWithContext(ctx, r) //nolint:staticcheck // the raw form keeps the status
	status := 0
	if resp != nil {
		defer resp.Body.Close()
		status = resp.StatusCode
	}
	now := m.p.now()
	if err != nil {
		err = mapErr("renew", "auth/token/renew-self", status, err)
		m.mu.Lock()
		m.failed(now, err)
		m.mu.Unlock()
		m.p.o.logger.Warn("credkit: Vault token renewal failed", "method", m.auth.Method(), "error_kind", credential.KindName(err))
		if status == http.StatusForbidden || status == http.StatusBadRequest {
			// Revoked, expired, or no longer renewable: log in again.
			_, lerr := m.login(ctx, st.gen)
			return lerr
		}
		return err
	}
	sec, perr := api.ParseSecret(io.LimitReader(resp.Body, 1<<20))
	if perr != nil || sec == nil || sec.Auth == nil {
		return &credential.Error{Op: "renew", Kind: credential.ErrUnavailable, Reason: "Vault's renewal answer is malformed"}
	}
	got := time.Duration(sec.Auth.LeaseDuration) * time.Second
	m.mu.Lock()
	if cur := m.cur.Load(); cur != st {
		m.mu.Unlock()
		return nil // a login replaced it meanwhile
	}
	ns := *st
	ns.renewed, ns.expires = now, now.Add(got)
	ns.renewable = sec.Auth.Renewable
	ns.capped = got < st.ttl-tolerance(st.ttl)
	m.cur.Store(&ns)
	m.status.Renewals++
	m.status.LastRenewal = now
	m.status.LastError, m.status.FailingSince = "", time.Time{}
	m.mu.Unlock()
	if ns.capped {
		m.p.o.logger.Info("credkit: Vault token reached its max TTL; a new login follows before it expires", "method", m.auth.Method(), "expires", ns.expires)
	}
	m.p.leases.notify(tokenKey)
	return nil
}

// tolerance is how much shorter than asked a renewal may be before it
// counts as capped by a max TTL: Vault answers in whole seconds.
func tolerance(ttl time.Duration) time.Duration { return max(2*time.Second, ttl/100) }

// statusNow returns the token's state.
func (m *tokenManager) statusNow() AuthStatus {
	m.mu.Lock()
	s := m.status
	m.mu.Unlock()
	s.Method = m.auth.Method()
	if st := m.cur.Load(); st != nil {
		s.Issued, s.Expires, s.Renewable, s.MaxTTLReached = st.issued, st.expires, st.renewable, st.capped
		s.EntityID = st.entity
		s.Authenticated = st.expires.IsZero() || m.p.now().Before(st.expires)
	}
	return s
}

// version returns the token as a credential version.
func (m *tokenManager) version(ctx context.Context, r ref) (credential.Version, error) {
	if r.field != "" || r.version != 0 || r.kv != 0 {
		return credential.Version{}, invalid("fetch", r.safe, "the token ref takes no field or setting")
	}
	st, err := m.token(ctx)
	if err != nil {
		return credential.Version{}, err
	}
	return credential.Version{
		Secret:  credential.NewSecret(st.token),
		ID:      strconv.FormatUint(st.gen, 10) + "." + credential.ContentID(st.token) + "@" + strconv.FormatInt(st.renewed.UnixNano(), 36),
		Created: st.issued,
		Expires: st.expires,
	}, nil
}

func (m *tokenManager) describe() credential.Description {
	s := m.statusNow()
	d := credential.Description{RotationEnabled: true, LastRotated: s.Issued,
		Issuer: m.p.vaultURL("auth/" + authMount(m.auth)), Subject: m.subject(s)}
	// A token with a TTL is minted and replaced by the provider: a
	// short-lived credential. A token without one (root) is a key.
	d.Metadata.ShortLived = !s.Expires.IsZero()
	tags := map[string]string{"vault_auth_method": s.Method, "vault_token_renewable": strconv.FormatBool(s.Renewable)}
	if !s.Expires.IsZero() {
		tags["vault_token_expires"] = s.Expires.UTC().Format(time.RFC3339)
	}
	if s.MaxTTLReached {
		tags["vault_token_max_ttl_reached"] = "true"
	}
	d.Metadata.Tags = tags
	return d
}

// revoke revokes a token the provider obtained by logging in.
func (m *tokenManager) revoke(ctx context.Context) {
	if _, given := m.auth.(*TokenAuth); given {
		return
	}
	st := m.cur.Load()
	if st == nil {
		return
	}
	r := m.p.c.NewRequest(http.MethodPut, "/v1/auth/token/revoke-self")
	r.ClientToken = st.token
	resp, err := m.p.c.RawRequestWithContext(ctx, r) //nolint:staticcheck // the raw form keeps the status
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		m.p.o.logger.Warn("credkit: revoking the Vault token on close failed", "error_kind", credential.KindName(mapErr("revoke", "", 0, err)))
	}
}

// AuthStatus returns the state of the provider's Vault token, for health
// pages and the inventory. It never holds the token.
func (p *Provider) AuthStatus() AuthStatus { return p.auth.statusNow() }

// CheckAuth reports whether the provider holds a usable token, logging in
// when it has none: nil, or an error wrapping credential.ErrPermission
// (login refused), ErrExpired (the token lapsed and no new one could be
// had) or ErrUnavailable. It suits a health check:
//
//	health.Func("vault-auth", true, func(ctx context.Context) health.Result {
//		return health.FromError(p.CheckAuth(ctx))
//	})
func (p *Provider) CheckAuth(ctx context.Context) error {
	st := p.auth.cur.Load()
	if st != nil && (st.expires.IsZero() || p.now().Before(st.expires)) {
		return nil
	}
	_, err := p.auth.token(ctx)
	if err != nil && st != nil && !errors.Is(err, context.Canceled) {
		return &credential.Error{Op: "check", Ref: TokenRef, Kind: credential.ErrExpired, Reason: "the Vault token expired and a new login failed", Err: err}
	}
	return err
}
