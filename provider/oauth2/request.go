package oauth2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/credkit/credkit/credential"
)

// request performs the grant: it reads the client secret and the subject
// token, then posts the token request.
func (p *Provider) request(ctx context.Context) (tokenAnswer, error) {
	params := url.Values{}
	for k, v := range p.cfg.Params {
		params.Set(k, v)
	}
	if p.cfg.Audience != "" {
		params.Set("audience", p.cfg.Audience)
	}
	if p.cfg.Resource != "" {
		params.Set("resource", p.cfg.Resource)
	}
	if p.grant != GrantClientCredentials {
		params.Set("grant_type", p.grant)
		tok, err := readSource(ctx, p.subject, "subject token")
		if err != nil {
			return tokenAnswer{}, err
		}
		p.noteSubject(tok.Reveal())
		switch p.grant {
		case GrantTokenExchange:
			params.Set("subject_token", tok.Reveal())
			typ := p.cfg.SubjectTokenType
			if typ == "" {
				if t, ok := p.subject.(TokenTyper); ok {
					typ = t.TokenType()
				}
			}
			if typ == "" {
				typ = TokenTypeJWT
			}
			params.Set("subject_token_type", typ)
			if p.cfg.RequestedTokenType != "" {
				params.Set("requested_token_type", p.cfg.RequestedTokenType)
			}
		case GrantJWTBearer:
			params.Set("assertion", tok.Reveal())
		}
	}
	var secret string
	if p.cfg.ClientSecret != nil {
		s, err := readSource(ctx, p.cfg.ClientSecret, "client secret")
		if err != nil {
			return tokenAnswer{}, err
		}
		secret = s.Reveal()
	}
	client := p.o.client
	if len(p.cfg.Header) > 0 {
		c := *client
		c.Transport = headerTransport{base: c.Transport, h: p.cfg.Header}
		client = &c
	}
	if p.cfg.JSON {
		return p.postJSON(ctx, client, params, secret)
	}
	return p.postForm(ctx, client, params, secret)
}

// readSource reads a grant input and checks its shape.
func readSource(ctx context.Context, s Source, what string) (credential.Secret, error) {
	v, err := s.Value(ctx)
	if err != nil {
		if isContextErr(err) {
			return credential.Secret{}, err
		}
		if ce := (*credential.Error)(nil); errors.As(err, &ce) {
			cp := *ce
			cp.Op = "fetch"
			cp.Reason = joinReason("cannot read the "+what, ce.Reason)
			cp.Err = nil // the kind and the reason say it; a third party's text stays out
			return credential.Secret{}, &cp
		}
		return credential.Secret{}, &credential.Error{Op: "fetch", Kind: credential.ErrUnavailable, Reason: "cannot read the " + what}
	}
	switch {
	case v.IsZero():
		return credential.Secret{}, &credential.Error{Op: "fetch", Kind: credential.ErrInvalid, Reason: "the " + what + " is empty"}
	case len(v.Reveal()) > maxToken:
		return credential.Secret{}, &credential.Error{Op: "fetch", Kind: credential.ErrInvalid, Reason: "the " + what + " is larger than 16 KiB"}
	}
	return v, nil
}

func joinReason(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

// postForm sends an RFC 6749 form-encoded request through
// golang.org/x/oauth2/clientcredentials, whose grant_type may be overridden
// for the other grants.
func (p *Provider) postForm(ctx context.Context, client *http.Client, params url.Values, secret string) (tokenAnswer, error) {
	cc := clientcredentials.Config{
		ClientID:       p.cfg.ClientID,
		ClientSecret:   secret,
		TokenURL:       p.cfg.TokenURL,
		Scopes:         p.cfg.Scopes,
		EndpointParams: params,
		AuthStyle:      p.cfg.AuthStyle,
	}
	if p.cfg.ClientID == "" && secret == "" {
		cc.AuthStyle = xoauth2.AuthStyleInParams // a public client: no Basic header
	}
	tok, err := cc.Token(context.WithValue(ctx, xoauth2.HTTPClient, client))
	if err != nil {
		return tokenAnswer{}, classifyLibError(err)
	}
	a := tokenAnswer{access: tok.AccessToken, typ: tok.TokenType, expiry: tok.Expiry}
	a.expiresIn = expiresIn(tok.Extra("expires_in"))
	return a, nil
}

// classifyLibError maps an error of golang.org/x/oauth2 to a credkit error.
// The library's text is never kept: a RetrieveError holds the endpoint's
// body, which may echo what was sent.
func classifyLibError(err error) error {
	if isContextErr(err) {
		return err
	}
	var re *xoauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return answerError(status, re.ErrorCode)
	}
	if errors.Is(err, errRedirect) {
		return &credential.Error{Op: "fetch", Kind: credential.ErrInvalid, Reason: "the token endpoint redirected; token requests do not follow redirects"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if isContextErr(ue.Err) {
			return ue.Err
		}
		return &credential.Error{Op: "fetch", Kind: credential.ErrUnavailable, Reason: "the token endpoint cannot be reached"}
	}
	return &credential.Error{Op: "fetch", Kind: credential.ErrUnavailable, Reason: "the token endpoint's answer cannot be read"}
}

// errorCodes are the error codes of RFC 6749 §5.2, RFC 8693 and RFC 7523
// and the kind each maps to. Only these are ever named in an error: an
// unknown code is a third party's text.
var errorCodes = map[string]error{
	"invalid_grant":           credential.ErrPermission,
	"invalid_client":          credential.ErrPermission,
	"unauthorized_client":     credential.ErrPermission,
	"access_denied":           credential.ErrPermission,
	"invalid_subject_token":   credential.ErrPermission,
	"invalid_request":         credential.ErrInvalid,
	"invalid_scope":           credential.ErrInvalid,
	"invalid_target":          credential.ErrInvalid,
	"unsupported_grant_type":  credential.ErrInvalid,
	"unsupported_token_type":  credential.ErrInvalid,
	"temporarily_unavailable": credential.ErrUnavailable,
	"server_error":            credential.ErrUnavailable,
}

// answerError classifies a refused token request: 5xx, 429 and the
// "temporarily_unavailable" and "server_error" codes are ErrUnavailable
// (retry later); invalid_grant, invalid_client and other refusals, 401 and
// 403 are ErrPermission (retrying the same request cannot help); malformed
// requests are ErrInvalid.
func answerError(status int, code string) error {
	kind, known := errorCodes[code]
	reason := "the token endpoint answered " + strconv.Itoa(status)
	if known {
		reason += " " + code
	}
	switch {
	case status >= 500 || status == http.StatusTooManyRequests:
		kind = credential.ErrUnavailable
	case known:
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind = credential.ErrPermission
	case status >= 400:
		kind = credential.ErrInvalid
	default:
		kind = credential.ErrUnavailable
	}
	return &credential.Error{Op: "fetch", Kind: kind, Reason: reason}
}

// postJSON sends the grant as a JSON object (OpenAI, Anthropic).
func (p *Provider) postJSON(ctx context.Context, client *http.Client, params url.Values, secret string) (tokenAnswer, error) {
	body := map[string]string{}
	if p.grant == GrantClientCredentials {
		body["grant_type"] = GrantClientCredentials
	}
	for k := range params {
		body[k] = params.Get(k)
	}
	if len(p.cfg.Scopes) > 0 {
		body["scope"] = strings.Join(p.cfg.Scopes, " ")
	}
	if p.cfg.ClientID != "" {
		body["client_id"] = p.cfg.ClientID
	}
	if secret != "" {
		body["client_secret"] = secret
	}
	b, err := json.Marshal(body)
	if err != nil {
		return tokenAnswer{}, &credential.Error{Op: "fetch", Kind: credential.ErrInvalid, Reason: "cannot encode the token request"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.TokenURL, bytes.NewReader(b))
	if err != nil {
		return tokenAnswer{}, &credential.Error{Op: "fetch", Kind: credential.ErrInvalid, Reason: "cannot build the token request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return tokenAnswer{}, classifyLibError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return tokenAnswer{}, ctx.Err()
		}
		return tokenAnswer{}, &credential.Error{Op: "fetch", Kind: credential.ErrUnavailable, Reason: "the token endpoint's answer was cut off"}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e) // the code only; the body is never kept
		return tokenAnswer{}, answerError(resp.StatusCode, e.Error)
	}
	var ok struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if json.Unmarshal(data, &ok) != nil {
		return tokenAnswer{}, &credential.Error{Op: "fetch", Kind: credential.ErrUnavailable, Reason: "the token endpoint's answer is not JSON"}
	}
	return tokenAnswer{access: ok.AccessToken, typ: ok.TokenType, expiresIn: expiresIn(ok.ExpiresIn)}, nil
}

// expiresIn reads expires_in as x/oauth2 leaves it in Extra (a number or a
// string) or as raw JSON; 0 when absent or malformed.
func expiresIn(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	case json.Number:
		n, _ := x.Int64()
		return n
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	case json.RawMessage:
		if len(x) == 0 {
			return 0
		}
		var n json.Number
		if json.Unmarshal(x, &n) == nil {
			return expiresIn(n)
		}
		var s string
		if json.Unmarshal(x, &s) == nil {
			return expiresIn(s)
		}
	}
	return 0
}

// headerTransport adds headers to token requests.
type headerTransport struct {
	base http.RoundTripper
	h    http.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	for k, vs := range t.h {
		r2.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r2)
}
