package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestThreeMaxTTLCycles is the example end to end against a real
// PostgreSQL: three max-TTL cycles of a Vault database lease (TTL 1h, max
// TTL 3h10m) on a fake clock while 8 workers query through the pool.
func TestThreeMaxTTLCycles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	st, err := Demo(ctx, DemoConfig{Workers: 8, Cycles: 3, Out: &out})
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(3); err != nil {
		t.Fatal(err)
	}
	// 4 renewals per lease (at about 40, 80 and 120 minutes, then one
	// capped by the max TTL), for the three leases that ran their course.
	if st.Renewals < 12 || int(st.Renewals) != st.RolesRenewed {
		t.Errorf("%d renewals by the provider, %d VALID UNTIL extensions at the database; want at least 12, equal", st.Renewals, st.RolesRenewed)
	}
	if st.Recycled == 0 {
		t.Errorf("no connection was recycled after 3 lease replacements")
	}
	if st.NewConns <= 8 {
		t.Errorf("only %d connections were opened: the replacements renewed none", st.NewConns)
	}
	if st.ConnsChecked != st.NewConns {
		t.Errorf("%d of %d new connections were checked against their lease", st.ConnsChecked, st.NewConns)
	}
	if !bytes.Contains(st.ServiceLog, []byte(`"msg":"database login rotated"`)) {
		t.Errorf("the service log has no rotation line; the leak check proves nothing")
	}
}
