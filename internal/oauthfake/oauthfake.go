// Package oauthfake is an in-process OAuth 2.0 token endpoint and the
// metadata services that hand out subject tokens (GCP's metadata server,
// Azure's IMDS), for tests of provider/oauth2. The token endpoint checks
// what a real one checks — the grant type, the client, the audience, the
// subject token or assertion (its audience and expiry), the body encoding
// and the headers — and answers as RFC 6749 says, including its errors.
// Time comes from a credential.Clock, so expiry follows a fake clock.
package oauthfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/credkit/credkit/credential"
)

// Expect is what the token endpoint requires of a request. Empty fields are
// not checked.
type Expect struct {
	// Grant is the grant_type.
	Grant string
	// ClientID and ClientSecret, from HTTP Basic or the body.
	ClientID, ClientSecret string
	// Audience, Resource and Scope parameters.
	Audience, Resource, Scope string
	// SubjectTokenType of a token exchange.
	SubjectTokenType string
	// JSON requires a JSON body; otherwise a form body is required.
	JSON bool
	// Params must be present with these values.
	Params map[string]string
	// Header must be present with these values.
	Header http.Header
	// SubjectAudience is the "aud" the subject token or assertion must
	// carry; it must also be unexpired on the clock.
	SubjectAudience string
}

// Server is a fake token endpoint.
type Server struct {
	*httptest.Server
	clock credential.Clock

	mu        sync.Mutex
	life      time.Duration
	expect    Expect
	down      bool
	refuse    string
	n         int
	inflight  int
	maxFlight int
	issued    map[string]time.Time
	subjects  []string
	failures  []string
	gate      chan struct{}
	entered   chan struct{}
}

// New starts a token endpoint issuing tokens that live life on clock.
func New(clock credential.Clock, life time.Duration, e Expect) *Server {
	s := &Server{clock: credential.ClockOrSystem(clock), life: life, expect: e, issued: map[string]time.Time{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.token))
	return s
}

// TokenURL is the endpoint's URL.
func (s *Server) TokenURL() string { return s.URL + "/oauth/token" }

// SetDown makes the endpoint answer 503 (true) or work again (false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Refuse makes the endpoint answer 400 with the error code ("invalid_grant");
// "" lifts it.
func (s *Server) Refuse(code string) {
	s.mu.Lock()
	s.refuse = code
	s.mu.Unlock()
}

// Hold makes requests wait until the returned release is called; entered
// receives once per request that started waiting.
func (s *Server) Hold() (entered <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
	s.entered = make(chan struct{}, 64)
	g := s.gate
	var once sync.Once
	return s.entered, func() { once.Do(func() { close(g) }) }
}

// Requests returns how many requests reached the endpoint.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// MaxInFlight returns the most requests the endpoint ever served at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxFlight
}

// Failures lists the checks requests failed (no token values).
func (s *Server) Failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.failures...)
}

// Subjects lists the "sub" claims of the subject tokens or assertions
// presented, in order.
func (s *Server) Subjects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.subjects...)
}

// Valid reports whether tok was issued here and is unexpired at now.
func (s *Server) Valid(tok string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.issued[tok]
	return ok && now.Before(exp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.n++
	s.inflight++
	if s.inflight > s.maxFlight {
		s.maxFlight = s.inflight
	}
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	s.mu.Lock()
	down, refuse, e, life := s.down, s.refuse, s.expect, s.life
	s.mu.Unlock()
	if down {
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost {
		s.fail(w, "invalid_request", "method is not POST")
		return
	}
	p, err := params(r, e.JSON)
	if refuse != "" {
		// A real server may echo what it refused: the client must not.
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": refuse, "error_description": "refused: " + p["assertion"] + p["subject_token"] + p["client_secret"]})
		return
	}
	if err != nil {
		s.fail(w, "invalid_request", err.Error())
		return
	}
	now := s.clock.Now()
	id, secret := p["client_id"], p["client_secret"]
	if u, pw, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(pw)
	}
	check := []struct{ name, got, want string }{
		{"grant_type", p["grant_type"], e.Grant},
		{"client_id", id, e.ClientID},
		{"client_secret", secret, e.ClientSecret},
		{"audience", p["audience"], e.Audience},
		{"resource", p["resource"], e.Resource},
		{"scope", p["scope"], e.Scope},
		{"subject_token_type", p["subject_token_type"], e.SubjectTokenType},
	}
	for k, v := range e.Params {
		check = append(check, struct{ name, got, want string }{k, p[k], v})
	}
	for _, c := range check {
		if c.want != "" && c.got != c.want {
			code := "invalid_request"
			if c.name == "client_id" || c.name == "client_secret" {
				code = "invalid_client"
			}
			s.fail(w, code, "wrong "+c.name)
			return
		}
	}
	for k, vs := range e.Header {
		if r.Header.Get(k) != vs[0] {
			s.fail(w, "invalid_request", "wrong header "+k)
			return
		}
	}
	var subject string
	switch p["grant_type"] {
	case "urn:ietf:params:oauth:grant-type:token-exchange":
		subject = p["subject_token"]
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		subject = p["assertion"]
	}
	if subject != "" || e.SubjectAudience != "" {
		c, ok := ParseJWT(subject)
		switch {
		case !ok:
			s.fail(w, "invalid_grant", "subject token is not a JWT")
			return
		case e.SubjectAudience != "" && c.Aud != e.SubjectAudience:
			s.fail(w, "invalid_grant", "subject token has the wrong audience")
			return
		case !now.Before(time.Unix(c.Exp, 0)):
			s.fail(w, "invalid_grant", "subject token has expired")
			return
		}
		s.mu.Lock()
		s.subjects = append(s.subjects, c.Sub)
		s.mu.Unlock()
	}
	s.mu.Lock()
	tok := fmt.Sprintf("fake-access-token-%04d-FAKEFAKEFAKE", len(s.issued)+1)
	s.issued[tok] = now.Add(life)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(life / time.Second)})
}

func (s *Server) fail(w http.ResponseWriter, code, why string) {
	s.mu.Lock()
	s.failures = append(s.failures, why)
	s.mu.Unlock()
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": why})
}

func params(r *http.Request, wantJSON bool) (map[string]string, error) {
	ct := r.Header.Get("Content-Type")
	out := map[string]string{}
	isJSON := strings.HasPrefix(ct, "application/json")
	if isJSON != wantJSON {
		// Read it anyway (a refusal may echo it), and fail.
		p, _ := params(r, isJSON)
		if wantJSON {
			return p, fmt.Errorf("body is not JSON")
		}
		return p, fmt.Errorf("body is not form-encoded")
	}
	if wantJSON {
		if err := json.NewDecoder(r.Body).Decode(&out); err != nil {
			return nil, fmt.Errorf("body is not a JSON object of strings")
		}
		return out, nil
	}
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, fmt.Errorf("body is not form-encoded")
	}
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("malformed form")
	}
	for k := range r.PostForm {
		if len(r.PostForm[k]) != 1 {
			return nil, fmt.Errorf("parameter %s is repeated", k)
		}
		out[k] = r.PostForm.Get(k)
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Claims are the JWT claims the fakes read and write.
type Claims struct {
	Iss string `json:"iss,omitempty"`
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat,omitempty"`
}

// JWT returns an unsigned-looking fake JWT (header.claims.FAKESIGNATURE)
// with the real shape, for subject tokens and assertions.
func JWT(c Claims) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"fake","typ":"JWT"}`))
	b, _ := json.Marshal(c)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".FAKESIGNATUREFAKESIGNATURE"
}

// ParseJWT reads the claims of a JWT without verifying it.
func ParseJWT(tok string) (Claims, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Claims{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, false
	}
	var c Claims
	if json.Unmarshal(b, &c) != nil || c.Sub == "" {
		return Claims{}, false
	}
	return c, true
}

// GCPMetadata is a fake GCP metadata server's identity endpoint: it
// requires Metadata-Flavor: Google and an audience, and answers an ID token
// for that audience, valid for an hour on clock, with sub set to subject.
func GCPMetadata(clock credential.Clock, subject string) *httptest.Server {
	clock = credential.ClockOrSystem(clock)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		if r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/identity" {
			http.NotFound(w, r)
			return
		}
		aud := r.URL.Query().Get("audience")
		if aud == "" {
			http.Error(w, "non-empty audience parameter required", http.StatusBadRequest)
			return
		}
		now := clock.Now()
		w.Header().Set("Metadata-Flavor", "Google")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, JWT(Claims{Iss: "https://accounts.google.com", Sub: subject, Aud: aud, Iat: now.Unix(), Exp: now.Add(time.Hour).Unix()}))
	}))
}

// AzureIMDS is a fake Azure IMDS managed-identity token endpoint: it
// requires Metadata: true, an api-version and a resource, and answers a
// token for that resource, valid for a day on clock, with sub set to
// subject.
func AzureIMDS(clock credential.Clock, subject string) *httptest.Server {
	clock = credential.ClockOrSystem(clock)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Required metadata header not specified"})
			return
		}
		if r.URL.Path != "/metadata/identity/oauth2/token" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		if q.Get("api-version") == "" || q.Get("resource") == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "missing api-version or resource"})
			return
		}
		now := clock.Now()
		exp := now.Add(24 * time.Hour)
		writeJSON(w, http.StatusOK, map[string]string{
			"access_token": JWT(Claims{Iss: "https://sts.windows.net/00000000-0000-0000-0000-000000000000/", Sub: subject, Aud: q.Get("resource"), Iat: now.Unix(), Exp: exp.Unix()}),
			"expires_in":   "86399", "expires_on": fmt.Sprint(exp.Unix()), "resource": q.Get("resource"), "token_type": "Bearer",
		})
	}))
}
