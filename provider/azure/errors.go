package azure

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credkit/credkit/credential"
)

// ServiceError is Key Vault's answer to a failed request, kept as the
// cause of a credential.Error: the HTTP status, the error code, the inner
// error code ("SecretDisabled", "ForbiddenByRbac") and the message. Key
// Vault's messages name secrets and actions, never values. It unwraps to
// the SDK's *azcore.ResponseError.
type ServiceError struct {
	StatusCode int
	Code       string
	InnerCode  string
	Message    string
	resp       *azcore.ResponseError
}

// Error returns "Key Vault STATUS CODE[/INNER]: MESSAGE".
func (e *ServiceError) Error() string {
	var b strings.Builder
	b.WriteString("Key Vault ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.InnerCode != "" {
		b.WriteString("/")
		b.WriteString(e.InnerCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the SDK's error.
func (e *ServiceError) Unwrap() error { return e.resp }

// serviceError reads Key Vault's error body:
// {"error":{"code":…,"message":…,"innererror":{"code":…}}}.
func serviceError(re *azcore.ResponseError) *ServiceError {
	se := &ServiceError{StatusCode: re.StatusCode, Code: re.ErrorCode, resp: re}
	if re.RawResponse == nil {
		return se
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil || len(body) == 0 {
		return se
	}
	var v struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return se
	}
	if v.Error.Code != "" {
		se.Code = v.Error.Code
	}
	se.Message = v.Error.Message
	if len(se.Message) > 512 {
		se.Message = se.Message[:512] + "…"
	}
	if v.Error.InnerError != nil {
		se.InnerCode = v.Error.InnerError.Code
	}
	return se
}

// throttled is the error of a call not made because Key Vault's
// Retry-After has not passed.
type throttled struct{ until time.Time }

func (t *throttled) Error() string {
	return "Key Vault asked for no request before " + t.until.UTC().Format(time.RFC3339) + " (429 Retry-After)"
}

// mapErr turns an SDK error into a credential error whose cause is Key
// Vault's own error text.
func (p *Provider) mapErr(op, refStr string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var th *throttled
	if errors.As(err, &th) {
		return &credential.Error{Op: op, Ref: refStr, Kind: credential.ErrUnavailable, Reason: "throttled", Err: err}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		se := serviceError(re)
		kind := credential.ErrUnavailable
		switch {
		case se.InnerCode == "SecretDisabled":
			return p.disabledErr(op, refStr, se)
		case re.StatusCode == http.StatusNotFound:
			kind = credential.ErrNotFound
		case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
			kind = credential.ErrPermission
		case re.StatusCode == http.StatusBadRequest:
			kind = credential.ErrInvalid
		}
		return &credential.Error{Op: op, Ref: refStr, Kind: kind, Err: se}
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) {
		return &credential.Error{Op: op, Ref: refStr, Kind: credential.ErrPermission, Reason: "Entra ID refused a token", Err: err}
	}
	return &credential.Error{Op: op, Ref: refStr, Kind: credential.ErrUnavailable, Reason: "Key Vault could not be reached", Err: err}
}

// disabledErr is the error of a disabled secret: ErrRevoked, or
// ErrUnavailable with WithKeepLastGoodWhenDisabled.
func (p *Provider) disabledErr(op, refStr string, cause error) error {
	kind := credential.ErrRevoked
	if p.keepDisabled {
		kind = credential.ErrUnavailable
	}
	e := &credential.Error{Op: op, Ref: refStr, Kind: kind, Reason: "the secret is disabled in Key Vault"}
	if cause != nil {
		e.Err = cause
	}
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date; Retry-After-Ms
// and x-ms-retry-after-ms too). Without one it is 10 s, Key Vault's
// throttling window.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	const dflt = 10 * time.Second
	if resp == nil {
		return dflt
	}
	for _, h := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if ms, err := strconv.Atoi(resp.Header.Get(h)); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	v := resp.Header.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, 10*time.Minute)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 10*time.Minute)
	}
	return dflt
}

// gate holds the time before which Key Vault asked for no request.
type gate struct {
	mu    sync.Mutex
	until time.Time
}

func (g *gate) closed(now time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until, now.Before(g.until)
}

// close extends the gate to t and returns its end.
func (g *gate) close(t time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.until) {
		g.until = t
	}
	return g.until
}

// limiter admits at most n requests in any window: a ring of the last n
// admission times.
type limiter struct {
	mu     sync.Mutex
	window time.Duration
	times  []time.Time
	next   int
}

func newLimiter(n int, window time.Duration) *limiter {
	return &limiter{window: window, times: make([]time.Time, n)}
}

// wait admits one request, waiting on clock while the window is full.
func (l *limiter) wait(ctx context.Context, clock credential.Clock) error {
	for {
		now := clock.Now()
		l.mu.Lock()
		oldest := l.times[l.next]
		if oldest.IsZero() || now.Sub(oldest) >= l.window {
			l.times[l.next] = now
			l.next = (l.next + 1) % len(l.times)
			l.mu.Unlock()
			return nil
		}
		d := oldest.Add(l.window).Sub(now)
		l.mu.Unlock()
		t := clock.NewTimer(d)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}
