package oauth2

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/field"
)

// Source supplies a value a grant presents: the subject token of a token
// exchange, the assertion of a JWT bearer grant, a client secret. A grant
// reads it every time it mints, so a rotated value is picked up.
//
// Value must be safe for concurrent use. Errors wrap a credkit sentinel and
// hold no value.
type Source interface {
	Value(ctx context.Context) (credential.Secret, error)
}

// TokenTyper is implemented by sources that know the RFC 8693 type of their
// token (a GCP ID token is TokenTypeIDToken). [TokenExchange] uses it when
// Config.SubjectTokenType is empty.
type TokenTyper interface {
	TokenType() string
}

// SourceFunc adapts a function to [Source].
type SourceFunc func(ctx context.Context) (credential.Secret, error)

// Value calls f.
func (f SourceFunc) Value(ctx context.Context) (credential.Secret, error) { return f(ctx) }

// Static returns a Source of a fixed value.
func Static(s credential.Secret) Source {
	return SourceFunc(func(context.Context) (credential.Secret, error) { return s, nil })
}

// FromProvider returns a Source that fetches ref from p at every read: a
// client secret from a file, an environment variable, a secret manager, or
// any credkit URL resolved with provider.URLMux.
func FromProvider(p credential.Provider, ref string) Source {
	return SourceFunc(func(ctx context.Context) (credential.Secret, error) {
		v, err := p.Fetch(ctx, ref)
		if err != nil {
			return credential.Secret{}, err
		}
		return v.Secret, nil
	})
}

// File reads a token from a file that is itself rotated, such as a
// Kubernetes projected service-account token
// (/var/run/secrets/kubernetes.io/serviceaccount/token, or the path of a
// serviceAccountToken volume projection with its own audience). Each read
// stats the file and reads it again only when it changed (another file,
// size or modification time: the kubelet's "..data" symlink swap makes the
// path name another file). Surrounding white space is trimmed.
//
// Unlike provider/file, File does not refuse a file readable by group or
// others: Kubernetes projects these tokens with mode 0644 by default, and
// they are short-lived and audience-bound. Its type is TokenTypeJWT.
//
// A File is safe for concurrent use.
type File struct {
	path string

	mu   sync.Mutex
	info fs.FileInfo
	val  credential.Secret
}

var (
	_ Source     = (*File)(nil)
	_ TokenTyper = (*File)(nil)
)

// NewFile returns a File reading path.
func NewFile(path string) *File { return &File{path: path} }

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// TokenType returns TokenTypeJWT.
func (f *File) TokenType() string { return TokenTypeJWT }

// Value returns the file's token, read again when the file changed.
func (f *File) Value(context.Context) (credential.Secret, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return credential.Secret{}, fileError(f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.info != nil && os.SameFile(f.info, fi) && f.info.Size() == fi.Size() && f.info.ModTime().Equal(fi.ModTime()) {
		return f.val, nil
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return credential.Secret{}, fileError(f.path, err)
	}
	defer fh.Close()
	// Stat the open file: the path may have been swapped since.
	if fi, err = fh.Stat(); err != nil {
		return credential.Secret{}, fileError(f.path, err)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxToken+1))
	if err != nil {
		return credential.Secret{}, fileError(f.path, err)
	}
	if len(b) > maxToken {
		return credential.Secret{}, &credential.Error{Op: "read", Ref: f.path, Kind: credential.ErrInvalid, Reason: "the token file is larger than 16 KiB"}
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return credential.Secret{}, &credential.Error{Op: "read", Ref: f.path, Kind: credential.ErrInvalid, Reason: "the token file is empty"}
	}
	if tok, err = field.Value(tok, maxToken); err != nil {
		return credential.Secret{}, field.Annotate(err, "read", f.path)
	}
	f.info, f.val = fi, credential.NewSecret(tok)
	return f.val, nil
}

func fileError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &credential.Error{Op: "read", Ref: path, Kind: credential.ErrNotFound, Reason: "no token file"}
	case errors.Is(err, fs.ErrPermission):
		return &credential.Error{Op: "read", Ref: path, Kind: credential.ErrPermission, Reason: "the token file cannot be read"}
	}
	return &credential.Error{Op: "read", Ref: path, Kind: credential.ErrUnavailable, Reason: "the token file cannot be read"}
}

// GCPMetadataIdentityURL is the identity endpoint of GCP's metadata server.
const GCPMetadataIdentityURL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity"

// GCPIdentity reads a Google-signed OIDC ID token for Audience from the
// metadata server of the GCE VM, GKE node (with Workload Identity: the
// pod's service account), Cloud Run service or Cloud Function it runs on:
//
//	GET .../service-accounts/default/identity?audience=AUDIENCE
//	Metadata-Flavor: Google
//
// A fresh token is requested at every read (the grant runs only when its
// own token is due). Its type is TokenTypeIDToken. The zero value but for
// Audience is ready to use.
type GCPIdentity struct {
	// Audience is the token's "aud" claim. Required.
	Audience string
	// Endpoint overrides GCPMetadataIdentityURL (tests, an emulator).
	Endpoint string
	// Client performs the request (default: a client with a 5 s timeout).
	Client *http.Client
}

var (
	_ Source     = (*GCPIdentity)(nil)
	_ TokenTyper = (*GCPIdentity)(nil)
)

// TokenType returns TokenTypeIDToken.
func (g *GCPIdentity) TokenType() string { return TokenTypeIDToken }

// Value asks the metadata server for an ID token.
func (g *GCPIdentity) Value(ctx context.Context) (credential.Secret, error) {
	const what = "GCP metadata server"
	if g.Audience == "" {
		return credential.Secret{}, &credential.Error{Op: "read", Kind: credential.ErrInvalid, Reason: "a GCP ID token needs an audience"}
	}
	endpoint := g.Endpoint
	if endpoint == "" {
		endpoint = GCPMetadataIdentityURL
	}
	body, hdr, err := metadataGet(ctx, g.Client, endpoint, url.Values{"audience": {g.Audience}}, "Metadata-Flavor", "Google", what)
	if err != nil {
		return credential.Secret{}, err
	}
	if hdr.Get("Metadata-Flavor") != "Google" {
		return credential.Secret{}, &credential.Error{Op: "read", Ref: endpoint, Kind: credential.ErrUnavailable, Reason: "the " + what + " answer lacks Metadata-Flavor: Google"}
	}
	tok, err := field.Value(strings.TrimSpace(string(body)), maxToken)
	if err != nil {
		return credential.Secret{}, field.Annotate(err, "read", endpoint)
	}
	return credential.NewSecret(tok), nil
}

// AzureIMDSTokenURL is the managed-identity token endpoint of Azure's
// Instance Metadata Service.
const AzureIMDSTokenURL = "http://169.254.169.254/metadata/identity/oauth2/token"

// AzureManagedIdentity reads an Entra ID access token of the VM's (or a
// user-assigned) managed identity from Azure's Instance Metadata Service:
//
//	GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=RESOURCE[&client_id=ID]
//	Metadata: true
//
// For federation into another issuer, Resource is the application ID URI
// the federation trusts (OpenAI's SDK defaults to
// "https://management.azure.com/"). Its type is TokenTypeJWT.
type AzureManagedIdentity struct {
	// Resource is the token's audience. Required.
	Resource string
	// ClientID selects a user-assigned identity; empty is the
	// system-assigned one.
	ClientID string
	// APIVersion is the IMDS API version (default "2018-02-01").
	APIVersion string
	// Endpoint overrides AzureIMDSTokenURL (tests, App Service's
	// IDENTITY_ENDPOINT is another protocol and is not supported).
	Endpoint string
	// Client performs the request (default: a client with a 5 s timeout).
	Client *http.Client
}

var (
	_ Source     = (*AzureManagedIdentity)(nil)
	_ TokenTyper = (*AzureManagedIdentity)(nil)
)

// TokenType returns TokenTypeJWT.
func (a *AzureManagedIdentity) TokenType() string { return TokenTypeJWT }

// Value asks IMDS for a token.
func (a *AzureManagedIdentity) Value(ctx context.Context) (credential.Secret, error) {
	const what = "Azure IMDS"
	if a.Resource == "" {
		return credential.Secret{}, &credential.Error{Op: "read", Kind: credential.ErrInvalid, Reason: "an Azure managed-identity token needs a resource"}
	}
	endpoint := a.Endpoint
	if endpoint == "" {
		endpoint = AzureIMDSTokenURL
	}
	v := url.Values{"api-version": {a.APIVersion}, "resource": {a.Resource}}
	if a.APIVersion == "" {
		v.Set("api-version", "2018-02-01")
	}
	if a.ClientID != "" {
		v.Set("client_id", a.ClientID)
	}
	body, _, err := metadataGet(ctx, a.Client, endpoint, v, "Metadata", "true", what)
	if err != nil {
		return credential.Secret{}, err
	}
	var r struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &r) != nil {
		return credential.Secret{}, &credential.Error{Op: "read", Ref: endpoint, Kind: credential.ErrUnavailable, Reason: "the " + what + " answer is not JSON"}
	}
	tok, err := field.Value(r.AccessToken, maxToken)
	if err != nil {
		return credential.Secret{}, field.Annotate(err, "read", endpoint)
	}
	return credential.NewSecret(tok), nil
}

// metadataGet asks a metadata service. Its errors name the status, never
// the body.
func metadataGet(ctx context.Context, c *http.Client, endpoint string, q url.Values, hk, hv, what string) ([]byte, http.Header, error) {
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, nil, &credential.Error{Op: "read", Kind: credential.ErrInvalid, Reason: "the " + what + " endpoint is not a URL"}
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, &credential.Error{Op: "read", Kind: credential.ErrInvalid, Reason: "cannot build the " + what + " request"}
	}
	req.Header.Set(hk, hv)
	resp, err := cp.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &credential.Error{Op: "read", Ref: endpoint, Kind: credential.ErrUnavailable, Reason: "the " + what + " cannot be reached"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, &credential.Error{Op: "read", Ref: endpoint, Kind: credential.ErrUnavailable, Reason: "the " + what + " answer was cut off"}
	}
	if resp.StatusCode != http.StatusOK {
		kind := credential.ErrUnavailable
		switch {
		case resp.StatusCode == http.StatusNotFound:
			kind = credential.ErrNotFound
		case resp.StatusCode == http.StatusBadRequest:
			kind = credential.ErrInvalid
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			kind = credential.ErrPermission
		}
		return nil, nil, &credential.Error{Op: "read", Ref: endpoint, Kind: kind, Reason: "the " + what + " answered " + strconv.Itoa(resp.StatusCode)}
	}
	return body, resp.Header, nil
}
