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
