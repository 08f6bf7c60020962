package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQuickstart runs the tour and checks what it promises: it succeeds,
// the keys are shown redacted, a rotation is invisible to the caller (the
// API's 401 to the old key is absorbed by a refresh and a retry), each
// capability takes a line or two, and no key appears in its output.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("quickstart failed: %v", err)
	}
	s := out.String()
	t.Logf("\n%s", s)
	for _, want := range []string{"anthropic  [REDACTED] fingerprint ", "openai     [REDACTED] fingerprint ",
		"== the model API through credential.Transport\nGET /v1/models -> 200 (key ",
		"calling the model with key [REDACTED:known:openai]", "header=\"Authorization: Bearer [REDACTED:known:openai]\"",
		"key=[REDACTED:google] 403", "db_password=[REDACTED:key]",
		"openai     backend=file owner=ml-team@example.com rotations=1 due=in 90d findings=[]",
		"\n200 pass: anthropic:credential pass, openai-api:responseTime pass, openai:credential pass\n",
		"\n503 fail: anthropic:credential pass, openai-api:responseTime fail (credential revoked), openai:credential fail (revoked: key posted in a support ticket)\n",
		"embedding API up -> fresh, down -> stale (the last good vector)",
		"model down (529) -> request queued -> model back -> completed: Your ticket was about a password reset."} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// The rotation: the caller's one request succeeded; the API saw the old
	// key refused, then the new key accepted; the Set reported the same
	// rotation.
	m := regexp.MustCompile(`GET /v1/models -> 200 for the caller; the API saw 401 \(key ([0-9a-f]{8})\), then 200 \(key ([0-9a-f]{8})\) after the transport's refresh\n`).FindStringSubmatch(s)
	if m == nil {
		t.Fatal("the request after the rotation does not show 401 → refresh → 200")
	}
	if m[1] == m[2] {
		t.Errorf("the retry sent the same key %s", m[1])
	}
	if !strings.Contains(s, "GET /v1/models -> 200 (key "+m[1]+")") {
		t.Errorf("the 401 was not for the key the first call used")
	}
	if !strings.Contains(s, "event: rotated openai "+m[1]+" -> "+m[2]+"\n") {
		t.Errorf("no rotation event from %s to %s", m[1], m[2])
	}

	// Short: a line or two per capability, no JSON documents.
	if n := strings.Count(s, "\n"); n > 30 {
		t.Errorf("%d lines of output, want at most 30", n)
	}
	if strings.Contains(s, "{\n") {
		t.Error("the output holds a pretty-printed JSON document")
	}

	// The vendor prefixes are public; any 4 bytes of what follows them in
	// the output would be a leak.
	for _, key := range []string{strings.TrimPrefix(openAIKey, "sk-proj-"), strings.TrimPrefix(openAIKey2, "sk-proj-"), strings.TrimPrefix(anthropicKey, "sk-ant-api03-"), strings.TrimPrefix(unknownGoogleKey, "AIza"), "hunter2"} {
		for i := 0; i+4 <= len(key); i++ {
			if strings.Contains(s, key[i:i+4]) {
				t.Fatalf("output holds 4 bytes of a key at offset %d", i)
			}
		}
	}
}
