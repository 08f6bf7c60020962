package aws_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/aws"
	"github.com/credkit/credkit/rotate"
)

var bedrockT0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

var fakeCreds = sdkaws.Credentials{AccessKeyID: "AKIAFAKEFAKEFAKE0000", SecretAccessKey: "FAKEsecretFAKEsecretFAKEsecretFAKEsecret"}

type credsFunc func(context.Context) (sdkaws.Credentials, error)

func (f credsFunc) Retrieve(ctx context.Context) (sdkaws.Credentials, error) { return f(ctx) }

func static(c sdkaws.Credentials) sdkaws.CredentialsProvider {
	return credsFunc(func(context.Context) (sdkaws.Credentials, error) { return c, nil })
}

// verifyBedrockKey checks a key as Bedrock would: its format, then its
// SigV4 signature, recomputed with the AWS SDK's signer from the secret key
// of the access key it names, and its expiry at now. It returns the region.
func verifyBedrockKey(key string, creds sdkaws.Credentials, now time.Time) (string, time.Time, error) {
	rest, ok := strings.CutPrefix(key, aws.BedrockKeyPrefix)
	if !ok {
		return "", time.Time{}, errors.New("no bedrock-api-key- prefix")
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", time.Time{}, errors.New("not base64")
	}
	presigned, ok := strings.CutSuffix(string(raw), "&Version=1")
	if !ok {
		return "", time.Time{}, errors.New("no &Version=1")
	}
	u, err := url.Parse("https://" + presigned)
	if err != nil || u.Host != "bedrock.amazonaws.com" || u.Path != "/" {
		return "", time.Time{}, errors.New("not a bedrock.amazonaws.com URL")
	}
	q := u.Query()
	if q.Get("Action") != "CallWithBearerToken" || q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return "", time.Time{}, errors.New("wrong action or algorithm")
	}
	parts := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(parts) != 5 || parts[0] != creds.AccessKeyID || parts[3] != "bedrock" || parts[4] != "aws4_request" {
		return "", time.Time{}, errors.New("wrong credential scope")
	}
	region := parts[2]
	signedAt, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return "", time.Time{}, errors.New("bad X-Amz-Date")
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs <= 0 || secs > 43200 {
		return "", time.Time{}, errors.New("bad X-Amz-Expires")
	}
	if q.Get("X-Amz-Security-Token") != creds.SessionToken {
		return "", time.Time{}, errors.New("wrong session token")
	}
	// Recompute the signature of the request the key stands for.
	req, _ := http.NewRequest(http.MethodPost, "https://bedrock.amazonaws.com/?"+url.Values{"Action": {"CallWithBearerToken"}, "X-Amz-Expires": {q.Get("X-Amz-Expires")}}.Encode(), nil)
	want, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "bedrock", region, signedAt)
	if err != nil {
		return "", time.Time{}, err
	}
	wu, _ := url.Parse(want)
	if wu.Query().Get("X-Amz-Signature") != q.Get("X-Amz-Signature") {
		return "", time.Time{}, errors.New("signature does not match")
	}
	expires := signedAt.Add(time.Duration(secs) * time.Second)
	if !now.Before(expires) {
		return "", time.Time{}, errors.New("expired")
	}
	return region, expires, nil
}

func TestBedrockKey(t *testing.T) {
	clk := fakeclock.New(bedrockT0)
	b := aws.NewBedrockKeys(static(fakeCreds), aws.WithBedrockClock(clk))
	v, err := b.Fetch(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	region, exp, err := verifyBedrockKey(v.Secret.Reveal(), fakeCreds, bedrockT0)
	if err != nil || region != "us-east-1" {
		t.Fatalf("the key does not verify: %v (region %q)", err, region)
	}
	if !exp.Equal(bedrockT0.Add(12*time.Hour)) || !v.Expires.Equal(exp) || !v.Created.Equal(bedrockT0) {
		t.Fatalf("Expires %v, signed expiry %v", v.Expires, exp)
	}
	if _, _, err := verifyBedrockKey(v.Secret.Reveal(), fakeCreds, bedrockT0.Add(12*time.Hour)); err == nil {
		t.Fatal("the key is still valid at its expiry")
	}
	other := fakeCreds
	other.SecretAccessKey = "OTHERsecretOTHERsecretOTHERsecretOTHER00"
	if _, _, err := verifyBedrockKey(v.Secret.Reveal(), other, bedrockT0); err == nil {
		t.Fatal("the verifier accepts a key signed with another secret")
	}

	// Session credentials that expire in 50 minutes bound the key's life,
	// and their session token travels in the key.
	session := fakeCreds
	session.SessionToken = "FQoGZXIvYXdzEFAKEFAKEFAKEFAKEFAKE"
	session.CanExpire, session.Expires = true, bedrockT0.Add(50*time.Minute)
	v, err = aws.NewBedrockKeys(static(session), aws.WithBedrockClock(clk), aws.WithBedrockLifetime(time.Hour)).Fetch(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, exp, err := verifyBedrockKey(v.Secret.Reveal(), session, bedrockT0); err != nil || !exp.Equal(session.Expires) || !v.Expires.Equal(session.Expires) {
		t.Fatalf("session key: %v, expiry %v / %v", err, exp, v.Expires)
	}

	// Errors hold neither key nor secret.
	for name, tc := range map[string]struct {
		b    *aws.BedrockKeys
		ref  string
		kind error
	}{
		"bad region": {aws.NewBedrockKeys(static(fakeCreds)), "us-east-1/../x", credential.ErrInvalid},
		"chain fails": {aws.NewBedrockKeys(credsFunc(func(context.Context) (sdkaws.Credentials, error) {
			return sdkaws.Credentials{}, fmt.Errorf("no creds %s", fakeCreds.SecretAccessKey)
		})), "us-east-1", credential.ErrUnavailable},
		"expired credentials": {aws.NewBedrockKeys(static(sdkaws.Credentials{AccessKeyID: "AKIAFAKE", SecretAccessKey: "FAKE", CanExpire: true, Expires: bedrockT0}), aws.WithBedrockClock(clk)), "us-east-1", credential.ErrExpired},
	} {
		_, err := tc.b.Fetch(context.Background(), tc.ref)
		if !errors.Is(err, tc.kind) || strings.Contains(err.Error(), "FAKEsecret") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A key with a one-minute life watched for 10 simulated minutes, sent to a
// fake bedrock-runtime endpoint through credential.Transport: every request
// carries a key that verifies and is unexpired; it is refreshed at 80% of
// its life.
func TestBedrockKeyRefreshAndTransport(t *testing.T) {
	clk := fakeclock.New(bedrockT0)
	b := aws.NewBedrockKeys(static(fakeCreds), aws.WithBedrockClock(clk), aws.WithBedrockLifetime(time.Minute))
	var bad atomic.Value
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			bad.Store("no bearer key")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if _, _, err := verifyBedrockKey(key, fakeCreds, clk.Now()); err != nil {
			bad.Store(err.Error())
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}}}`)
	}))
	defer runtime.Close()
	ctx := context.Background()
	c, err := rotate.Watch(ctx, "bedrock", b, "us-west-2", rotate.WithClock(clk), rotate.WithRefreshAhead(0.8, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rotations int
	c.OnRotate(func(rotate.Event) { rotations++ })
	client := &http.Client{Transport: &credential.Transport{Credential: c}}
	for elapsed := 10 * time.Second; elapsed <= 10*time.Minute; elapsed += 10 * time.Second {
		clk.Advance(10 * time.Second)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		clk.WaitTimers(wctx, 1)
		cancel()
		resp, err := client.Post(runtime.URL+"/model/anthropic.claude-fake/converse", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("at +%v: %d (%v)", elapsed, resp.StatusCode, bad.Load())
		}
	}
	t.Logf("1-minute Bedrock key, 10 simulated minutes: %d refreshes", rotations)
	if rotations < 12 || rotations > 13 {
		t.Fatalf("%d refreshes, want 12-13", rotations)
	}
}

func TestBedrockOpener(t *testing.T) {
	clk := fakeclock.New(bedrockT0)
	mux := provider.NewURLMux()
	if err := mux.Register("bedrock-key", aws.NewBedrockOpener(aws.WithBedrockCredentials(static(fakeCreds)), aws.WithBedrockOptions(aws.WithBedrockClock(clk)))); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, ref, err := mux.Resolve(ctx, "bedrock-key://ap-southeast-2?expires=1h")
	if err != nil {
		t.Fatal(err)
	}
	p2, _, _ := mux.Resolve(ctx, "bedrock-key://us-east-1?expires=1h")
	if p != p2 || ref != "ap-southeast-2" {
		t.Fatalf("ref %q, shared %v", ref, p == p2)
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if region, exp, err := verifyBedrockKey(v.Secret.Reveal(), fakeCreds, bedrockT0); err != nil || region != "ap-southeast-2" || !exp.Equal(bedrockT0.Add(time.Hour)) {
		t.Fatalf("%v %q %v", err, region, exp)
	}
	d, _ := p.(credential.Describer).Describe(ctx, ref)
	if !d.Metadata.ShortLived || d.Issuer != "https://bedrock.amazonaws.com" || d.Subject != fakeCreds.AccessKeyID || d.Metadata.Tags["region"] != "ap-southeast-2" {
		t.Fatalf("Describe = %+v", d)
	}
	for _, u := range []string{
		"bedrock-key://us-east-1?expiry=SECRETVALUE1",
		"bedrock-key://us-east-1?expires=1h&expires=SECRETVALUE1",
		"bedrock-key://us-east-1?expires=SECRETVALUE1",
		"bedrock-key://us-east-1?expires=13h",
		"bedrock-key://us-east-1/path",
	} {
		_, _, err := mux.Resolve(ctx, u)
		if !errors.Is(err, credential.ErrInvalid) || strings.Contains(err.Error(), "SECRETVALUE1") {
			t.Errorf("%s: %v", credential.SafeRef(u), err)
		}
	}
	if _, _, err := mux.Resolve(ctx, "bedrock-key://us-east-1?profile=dev"); !errors.Is(err, credential.ErrInvalid) {
		t.Errorf("profile with fixed credentials: %v", err)
	}
	if _, _, err := mux.Resolve(ctx, "bedrock-key://us-east-1?expiry=1h"); err == nil || !strings.Contains(err.Error(), `"expiry"`) {
		t.Errorf("the error does not name the unknown setting: %v", err)
	}
}

// Issue 17: a Bedrock key in a rotate.Set shows in the inventory as
// short-lived, with its TTL, issuer and subject (the signing access key
// ID), and no rotation noise: its expiry is no rotation due date and no
// "no rotation period" finding is raised. Neither the row nor the
// inventory's JSON holds the key or the secret access key.
func TestBedrockInventory(t *testing.T) {
	clk := fakeclock.New(bedrockT0)
	mux := provider.NewURLMux()
	if err := mux.Register("bedrock-key", aws.NewBedrockOpener(aws.WithBedrockCredentials(static(fakeCreds)), aws.WithBedrockOptions(aws.WithBedrockClock(clk)))); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	set, err := rotate.Open(ctx, mux, []rotate.Config{{
		Name: "bedrock", URL: "bedrock-key://us-east-1?expires=1h",
		Metadata: credential.Metadata{Owner: "ml-team", Purpose: "claude on bedrock", Environment: "production"},
	}}, rotate.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	it, _ := set.Item("bedrock")
	if !it.ShortLived || it.TTL != time.Hour || it.Issuer != "https://bedrock.amazonaws.com" || it.Subject != fakeCreds.AccessKeyID {
		t.Fatalf("row: short_lived=%v ttl=%v issuer=%q subject=%q", it.ShortLived, it.TTL, it.Issuer, it.Subject)
	}
	if it.Metadata.System != "bedrock-runtime.us-east-1.amazonaws.com" || !it.Expires.Equal(bedrockT0.Add(time.Hour)) {
		t.Fatalf("row: system=%q expires=%v", it.Metadata.System, it.Expires)
	}
	if !it.RotationDue.IsZero() || it.DueSoon || it.Overdue || len(it.Findings) != 0 {
		t.Fatalf("rotation noise for a key living an hour: due=%v due_soon=%v findings=%v", it.RotationDue, it.DueSoon, it.Findings)
	}
	c, err := set.Credential("bedrock")
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(set.Inventory())
	if strings.Contains(string(b), key.Reveal()) || strings.Contains(string(b), fakeCreds.SecretAccessKey) {
		t.Fatal("the inventory holds the key or the secret access key")
	}
}
