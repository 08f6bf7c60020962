package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestQuickstart runs the tour and checks what it promises: it succeeds, the
// keys are shown redacted, and no key appears in its output.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("quickstart failed: %v", err)
	}
	s := out.String()
	if n := strings.Count(s, "GET /v1/models -> 200"); n != 2 {
		t.Errorf("%d successful calls, want 2: the call after the rotation must not fail", n)
	}
	for _, want := range []string{"value=[REDACTED]", "== the key file was rotated", "event: rotated openai", "rotations=1", "== inventory",
		"calling the model with key [REDACTED:known:openai]", "header=\"Authorization: Bearer [REDACTED:known:openai]\"",
		"key=[REDACTED:google] 403", "db_password=[REDACTED:key]",
		"== GET /readyz?verbose\n200 {", "after set.Revoke(\"openai\", ...)\n503 {", `"output": "revoked: key posted in a support ticket"`,
		`"output": "credential revoked"`,
		"embedding API up   -> fresh, 3 dimensions", "embedding API down -> stale, 3 dimensions",
		"model recovers\nqueued request completed: Your ticket was about a password reset."} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
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
