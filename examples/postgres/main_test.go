package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRotationUnderLoad is the example end to end against a real
// PostgreSQL: 10 rotations of the role's password while 8 workers query.
func TestRotationUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	st, err := Demo(ctx, DemoConfig{Workers: 8, Rotations: 10, LaggingStore: true, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	if st.Queries < 11*200 {
		t.Errorf("only %d queries ran", st.Queries)
	}
	if st.NewConns <= 8 {
		t.Errorf("only %d connections were opened: rotations did not renew any", st.NewConns)
	}
	if st.AuthRetries == 0 {
		t.Errorf("the lagging store caused no password refusal: the retry path was not exercised")
	}
	if st.Recycled == 0 {
		t.Errorf("no connection was recycled after 10 rotations")
	}
	if !bytes.Contains(st.ServiceLog, []byte(`"msg":"password rotated"`)) {
		t.Errorf("the service log has no rotation line; the leak check proves nothing")
	}
}
