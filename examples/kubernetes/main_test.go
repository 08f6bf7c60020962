package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestKubeletSwapsUnderLoad replays the kubelet's "..data" swap of the
// Secret volume (the API key) and of the projected token volume 10 times
// each while 8 workers call the service's API and a prober calls /livez
// and /readyz.
func TestKubeletSwapsUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	st, err := Demo(ctx, DemoConfig{Workers: 8, Swaps: 10, Mode: demoMode, KeyURLQuery: demoKeyQuery, Out: &out})
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	if st.Rejected == 0 {
		t.Errorf("no upstream 401: revoking the old key before the swap was seen did not exercise the refresh and retry")
	}
	if st.Exchanges < st.TokenSwaps+1 {
		t.Errorf("%d token exchanges for %d swaps", st.Exchanges, st.TokenSwaps)
	}
	if st.Probes < 2*int64(st.KeySwaps+st.TokenSwaps) {
		t.Errorf("only %d probes ran", st.Probes)
	}
}
