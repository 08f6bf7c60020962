package oauth2_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider/oauth2"
	"github.com/credkit/credkit/rotate"
)

// step moves the fake clock by d and waits until the watched credential's
// loop has finished what the move started (its timer is armed again).
func step(t *testing.T, fc *fakeclock.Clock, d time.Duration) {
	t.Helper()
	fc.Advance(d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !fc.WaitTimers(ctx, 1) {
		t.Fatal("the credential's loop did not re-arm its timer")
	}
}

// openAIExchange returns an OpenAI-style token exchange against fake,
// presenting the token file at path.
func openAIExchange(t *testing.T, fake *oauthfake.Server, path string, fc *fakeclock.Clock) *oauth2.Provider {
	t.Helper()
	cfg := oauth2.OpenAIConfig("idp_FAKE123", "svc_FAKE456")
	cfg.TokenURL = fake.TokenURL()
	p, err := oauth2.TokenExchange(cfg, oauth2.NewFile(path), oauth2.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func openAIFake(fc *fakeclock.Clock, life time.Duration) *oauthfake.Server {
	return oauthfake.New(fc, life, oauthfake.Expect{
		Grant: oauth2.GrantTokenExchange, JSON: true, SubjectTokenType: oauth2.TokenTypeJWT, SubjectAudience: openaiAud,
		Params: map[string]string{"identity_provider_id": "idp_FAKE123", "service_account_id": "svc_FAKE456"},
	})
}

// A token with a 60 s life, watched for 10 simulated minutes: refreshed at
// 80% of its life (12 or 13 times), never served expired, never two
// refreshes in flight; the subject token file is rotated half-way, and the
// old subject token expires a minute later, so a file that was not re-read
// would make the exchange fail.
func TestRefreshCycle(t *testing.T) {
	fc := fakeclock.New(t0)
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, k8sToken("system:serviceaccount:ml:rag-a", openaiAud, t0.Add(6*time.Minute)))
	fake := openAIFake(fc, 60*time.Second)
	defer fake.Close()
	p := openAIExchange(t, fake, path, fc)

	ctx := context.Background()
	c, err := rotate.Watch(ctx, "openai", p, "", rotate.WithClock(fc), rotate.WithRefreshAhead(0.8, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rotations int
	c.OnRotate(func(rotate.Event) { rotations++ })
	initial := fake.Requests()
	served := map[string]bool{}
	for elapsed := time.Second; elapsed <= 10*time.Minute; elapsed += time.Second {
		if elapsed == 5*time.Minute {
			writeToken(t, path, k8sToken("system:serviceaccount:ml:rag-b", openaiAud, t0.Add(time.Hour)))
		}
		step(t, fc, time.Second)
		s, err := c.Get(ctx)
		if err != nil {
			t.Fatalf("at +%v: Get: %v", elapsed, err)
		}
		if !fake.Valid(s.Reveal(), fc.Now()) {
			t.Fatalf("at +%v: served a token the endpoint holds expired", elapsed)
		}
		served[s.Fingerprint()] = true
	}
	refreshes := fake.Requests() - initial
	t.Logf("60 s token, 10 simulated minutes: %d refreshes, %d distinct tokens served, %d rotations, at most %d request(s) in flight, subjects presented %v",
		refreshes, len(served), rotations, fake.MaxInFlight(), fake.Subjects())
	if refreshes < 12 || refreshes > 13 {
		t.Fatalf("refreshed %d times in 10 minutes, want 12-13", refreshes)
	}
	if rotations != refreshes {
		t.Fatalf("%d rotations for %d refreshes", rotations, refreshes)
	}
	if m := fake.MaxInFlight(); m != 1 {
		t.Fatalf("%d refreshes in flight at once", m)
	}
	if f := fake.Failures(); len(f) > 0 {
		t.Fatalf("the endpoint refused: %v", f)
	}
	subs := fake.Subjects()
	if subs[0] != "system:serviceaccount:ml:rag-a" || subs[len(subs)-1] != "system:serviceaccount:ml:rag-b" {
		t.Fatalf("subjects presented %v: the rotated file was not picked up", subs)
	}
}

// The endpoint down for longer than a token's life: the last token is
// served until it expires, then Get fails with ErrExpired and health
// fails; when the endpoint returns, the credential recovers.
func TestOutageLongerThanTokenLife(t *testing.T) {
	fc := fakeclock.New(t0)
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, k8sToken("system:serviceaccount:ml:rag", openaiAud, t0.Add(time.Hour)))
	fake := openAIFake(fc, 60*time.Second)
	defer fake.Close()
	p := openAIExchange(t, fake, path, fc)
	ctx := context.Background()
	c, err := rotate.Watch(ctx, "openai", p, "", rotate.WithClock(fc), rotate.WithRefreshAhead(0.8, 10*time.Second), rotate.WithBackoff(time.Second, 8*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := health.CredentialCheck(c, health.CredentialOptions{Clock: fc, FailAfter: 30 * time.Second, ExpiryWindow: 10 * time.Second})
	v, _ := c.Version()
	expires := v.Expires

	fake.SetDown(true)
	before := fake.Requests()
	var expiredAt time.Duration
	for elapsed := time.Second; elapsed <= 3*time.Minute; elapsed += time.Second {
		step(t, fc, time.Second)
		s, err := c.Get(ctx)
		switch {
		case fc.Now().Before(expires):
			if err != nil || !fake.Valid(s.Reveal(), fc.Now()) {
				t.Fatalf("at +%v, before expiry: %v", elapsed, err)
			}
		case !errors.Is(err, credential.ErrExpired):
			t.Fatalf("at +%v, after expiry: got %v, want ErrExpired", elapsed, err)
		case expiredAt == 0:
			expiredAt = elapsed
		}
	}
	if r := check.Run(ctx); r.Status != health.Fail {
		t.Fatalf("health during the outage: %v %q", r.Status, r.Output)
	}
	outageRequests := fake.Requests() - before

	fake.SetDown(false)
	var recovered time.Duration
	for elapsed := time.Second; elapsed <= time.Minute; elapsed += time.Second {
		step(t, fc, time.Second)
		if s, err := c.Get(ctx); err == nil {
			if !fake.Valid(s.Reveal(), fc.Now()) {
				t.Fatal("recovered with a token the endpoint does not hold valid")
			}
			recovered = elapsed
			break
		}
	}
	t.Logf("endpoint down 3 min: ErrExpired from +%v, %d requests during the outage (backoff 1-8 s), recovered %v after the endpoint returned", expiredAt, outageRequests, recovered)
	if recovered == 0 {
		t.Fatal("no recovery within a minute of the endpoint's return")
	}
	if r := check.Run(ctx); r.Status != health.Pass {
		t.Fatalf("health after recovery: %v %q", r.Status, r.Output)
	}
	if outageRequests > 80 { // about 33 on average: full jitter up to 8 s over 132 s of failures
		t.Fatalf("%d requests in 3 minutes of outage: not backing off", outageRequests)
	}
}

// A refused grant (400 invalid_grant) is ErrPermission and is not retried
// in a loop: over 10 minutes, rotate's backoff spaces the attempts.
func TestInvalidGrantNotRetriedInALoop(t *testing.T) {
	fc := fakeclock.New(t0)
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, k8sToken("system:serviceaccount:ml:rag", openaiAud, t0.Add(time.Hour)))
	fake := openAIFake(fc, 60*time.Second)
	defer fake.Close()
	p := openAIExchange(t, fake, path, fc)
	ctx := context.Background()
	c, err := rotate.Watch(ctx, "openai", p, "", rotate.WithClock(fc), rotate.WithRefreshAhead(0.8, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fake.Refuse("invalid_grant")
	before := fake.Requests()
	for elapsed := time.Second; elapsed <= 10*time.Minute; elapsed += time.Second {
		step(t, fc, time.Second)
	}
	n := fake.Requests() - before
	st := c.Status()
	t.Logf("invalid_grant for 10 minutes: %d requests, last error %q", n, st.LastError)
	if n > 25 { // about 11 on average with rotate's default backoff (1 s doubling to 5 min, full jitter)
		t.Fatalf("%d requests in 10 minutes of invalid_grant", n)
	}
	if _, err := c.Get(ctx); !errors.Is(err, credential.ErrExpired) {
		t.Fatalf("Get: %v", err)
	}
}

// An hour-long token watched with rotate's defaults (a poll a minute) is
// minted about once an hour — at 80% of its life — not at every poll: the
// Provider is a credential.Minter, so rotate refreshes it ahead of its
// expiry only. Three simulated hours: 3 refreshes, not 180.
func TestHourTokenNotMintedEveryPoll(t *testing.T) {
	fc := fakeclock.New(t0)
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, k8sToken("system:serviceaccount:ml:rag", openaiAud, t0.Add(24*time.Hour)))
	fake := openAIFake(fc, time.Hour)
	defer fake.Close()
	p := openAIExchange(t, fake, path, fc)
	c, err := rotate.Watch(context.Background(), "openai", p, "", rotate.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if m := c.Status().Mode; m != rotate.ModeRefreshAhead {
		t.Fatalf("mode %q, want %q", m, rotate.ModeRefreshAhead)
	}
	initial := fake.Requests()
	end := t0.Add(3 * time.Hour)
	step(t, fc, 0) // the loop has armed its timer
	for {
		next, ok := fc.Next()
		if !ok || next.After(end) {
			break
		}
		step(t, fc, next.Sub(fc.Now()))
		if _, err := c.Get(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	refreshes := fake.Requests() - initial
	t.Logf("1 h token, 3 simulated hours, default 1-minute interval: %d refreshes", refreshes)
	if refreshes != 3 {
		t.Fatalf("refreshed %d times in 3 hours, want 3 (at 48, 96 and 144 minutes)", refreshes)
	}
}
