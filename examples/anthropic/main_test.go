package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/credkit/credkit/health/degrade"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDemo rotates the key file twice while 4 clients stream through the
// service and the prompts of every third round meet a 529 each, then overloads the primary
// model: no request fails, every held stream finishes on the key it
// started with, the 529s are absorbed by the policy, the overloaded
// model's questions are answered by the fallback model and marked so, and
// no key reaches the log.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	st, err := Demo(ctx, DemoConfig{Clients: 4, Rotations: 2, Rounds: 6, Overloaded: 6, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	if st.Rotations != 2 {
		t.Errorf("the service's key saw %d rotations, want 2", st.Rotations)
	}
	if st.API.HeldAcrossRotation != 4*2 {
		t.Errorf("%d streams finished across a rotation, want 8 (4 clients × 2 rotations)", st.API.HeldAcrossRotation)
	}
	if st.FallbackWhileOverloaded != 6 || st.Markers[degrade.Fallback] != 6 {
		t.Errorf("%d answers from the fallback model while the primary was overloaded (chains counted %d), want 6",
			st.FallbackWhileOverloaded, st.Markers[degrade.Fallback])
	}
	if st.Fresh != st.Requests-6 || st.Markers[degrade.Fresh] != st.Fresh {
		t.Errorf("%d fresh answers of %d before the overload (chains counted %d)", st.Fresh, st.Requests-6, st.Markers[degrade.Fresh])
	}
	if st.Absorbed529 < 2*4 {
		t.Errorf("%d 529s answered: the prompts of every third round should each have met one", st.Absorbed529)
	}
	if !bytes.Contains(st.Logs, []byte(`"msg":"ask stream"`)) || !bytes.Contains(st.Logs, []byte(`"marker":"fallback"`)) {
		t.Errorf("the service logged none of its answers: the log check proves nothing\n%s", st.Logs)
	}
}

// TestKeyFromEnvironment is the real-service wiring (the key from
// env://ANTHROPIC_API_KEY, the URL mux's own env backend) against the
// fake: the SDK, told to ignore the environment, sends the key only as
// credkit's x-api-key.
func TestKeyFromEnvironment(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", demoKey(7))
	api := NewFakeAPI(demoKey(7))
	defer api.Close()
	var logs syncBuffer
	svc, err := NewService(context.Background(), Config{KeyURL: "env://ANTHROPIC_API_KEY", BaseURL: api.URL, LogOut: &logs})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	front := httptest.NewServer(svc.Mux)
	defer front.Close()
	resp, err := front.Client().Post(front.URL+"/v1/ask", "application/json", strings.NewReader(`{"prompt":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), Answer) || !strings.Contains(string(b), `"marker":"fresh"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitChecked(ctx, svc.Monitor); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(front, "/readyz?verbose", ""); code != 200 || strings.Contains(body, string(PrimaryModel)) {
		t.Fatalf("/readyz?verbose without a token: %d %s", code, body)
	}
	if bytes.Contains(logs.Bytes(), []byte(demoKey(7))) {
		t.Fatal("the key reached the log")
	}
}

// TestRevokedKeyNotInLog: the key is revoked and no new one comes. The
// service answers 502 at once on both models (a rejected key is not
// overload: the chain does not hide it behind retries), and logs the SDK's
// error — whose text holds the answer's body, which a gateway that echoes
// the key it was given fills with the whole key — without the key.
func TestRevokedKeyNotInLog(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", demoKey(8))
	api := NewFakeAPI(demoKey(9)) // the provider no longer accepts demoKey(8)
	defer api.Close()
	api.EchoKeys()
	var logs syncBuffer
	svc, err := NewService(context.Background(), Config{KeyURL: "env://ANTHROPIC_API_KEY", BaseURL: api.URL, LogOut: &logs})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	front := httptest.NewServer(svc.Mux)
	defer front.Close()
	for _, body := range []string{`{"prompt":"hi"}`, `{"prompt":"hi","stream":true}`} {
		resp, err := front.Client().Post(front.URL+"/v1/ask", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 500 || bytes.Contains(b, []byte(demoKey(8))) {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	l := logs.Bytes()
	if !bytes.Contains(l, []byte(`"msg":"ask failed"`)) || !bytes.Contains(l, []byte("invalid x-api-key")) {
		t.Fatalf("the SDK's error was not logged: the check below proves nothing\n%s", l)
	}
	if bytes.Contains(l, []byte(demoKey(8))) || bytes.Contains(l, []byte("FAKEdemo08")) {
		t.Fatalf("the key reached the log:\n%s", l)
	}
	t.Logf("401s: %d for 2 requests", api.Counts().Rejected)
}
