package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDemo rotates the key file three times while 4 clients stream through
// the service: no request fails, every held stream finishes on the key it
// started with, the next requests carry the new key, and no key reaches
// the log.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	st, err := Demo(ctx, DemoConfig{Clients: 4, Rotations: 3, Rounds: 6, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	if st.Rotations != 3 {
		t.Errorf("the service's key saw %d rotations, want 3", st.Rotations)
	}
	if st.API.HeldAcrossRotation != 4*3 {
		t.Errorf("%d streams finished across a rotation, want 12 (4 clients × 3 rotations)", st.API.HeldAcrossRotation)
	}
	if st.Streams < 4*4 || st.API.Embeddings == 0 || st.API.Chats == 0 {
		t.Errorf("too little traffic: %v", st)
	}
	if !bytes.Contains(st.Logs, []byte(`"msg":"chat stream"`)) || !bytes.Contains(st.Logs, []byte(`"msg":"embed"`)) {
		t.Errorf("the service logged none of its requests: the log check proves nothing\n%s", st.Logs)
	}
}

// TestKeyFromEnvironment is the real-service wiring (the key from
// env://OPENAI_API_KEY, the URL mux's own env backend) against the fake.
func TestKeyFromEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", demoKey(7))
	api := NewFakeAPI(demoKey(7))
	defer api.Close()
	var logs syncBuffer
	svc, err := NewService(context.Background(), Config{KeyURL: "env://OPENAI_API_KEY", BaseURL: api.URL + "/v1", LogOut: &logs})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	front := httptest.NewServer(svc.Mux)
	defer front.Close()
	resp, err := front.Client().Post(front.URL+"/v1/chat", "application/json", strings.NewReader(`{"prompt":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), Answer) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	// Without the token, /readyz gives the bare status only.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitChecked(ctx, svc.Monitor); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(front, "/readyz?verbose", ""); code != 200 || strings.Contains(body, "openai") {
		t.Fatalf("/readyz?verbose without a token: %d %s", code, body)
	}
	if bytes.Contains(logs.Bytes(), []byte(demoKey(7))) {
		t.Fatal("the key reached the log")
	}
}

// TestRevokedKeyNotInLog: the key is revoked and no new one comes. The
// service answers 502 without retrying forever, and logs the SDK's error —
// whose text, from a gateway that echoes the key it was given, holds the
// whole key — without the key.
func TestRevokedKeyNotInLog(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", demoKey(8))
	api := NewFakeAPI(demoKey(9)) // the provider no longer accepts demoKey(8)
	defer api.Close()
	api.EchoKeys()
	var logs syncBuffer
	svc, err := NewService(context.Background(), Config{KeyURL: "env://OPENAI_API_KEY", BaseURL: api.URL + "/v1", LogOut: &logs})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	front := httptest.NewServer(svc.Mux)
	defer front.Close()
	for _, body := range []string{`{"prompt":"hi"}`, `{"prompt":"hi","stream":true}`} {
		resp, err := front.Client().Post(front.URL+"/v1/chat", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || bytes.Contains(b, []byte(demoKey(8))) {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	if n := api.Counts().Rejected; n != 2 {
		t.Errorf("%d 401s for 2 requests, want 1 each: a refresh that brings the same key is not retried", n)
	}
	l := logs.Bytes()
	if !bytes.Contains(l, []byte(`"msg":"chat failed"`)) || !bytes.Contains(l, []byte("Incorrect API key provided")) {
		t.Fatalf("the SDK's error was not logged: the check below proves nothing\n%s", l)
	}
	if bytes.Contains(l, []byte(demoKey(8))) || bytes.Contains(l, []byte("FAKEdemo08")) {
		t.Fatalf("the key reached the log:\n%s", l)
	}
}
