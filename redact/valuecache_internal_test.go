package redact

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
)

// TestValueCacheNeverHidesASecret: a short value is cached only once a
// scan found it clean and it came back; a token that shares its slot is
// still scanned and found; a dirty value is never cached; and a new
// snapshot (a value added) starts with an empty cache, so that a value
// cached clean is found once it is known.
func TestValueCacheNeverHidesASecret(t *testing.T) {
	r := New()
	sn := r.snap.Load()
	const clean = "gpt-4o-mini-2024-07-18"
	slot := keySlot(clean)
	require.False(t, sn.contains(clean))
	require.Nil(t, sn.vals[slot].Load(), "a value seen once is cached")
	require.False(t, sn.contains(clean))
	v := sn.vals[slot].Load()
	require.True(t, v != nil && *v == clean, "a value seen twice in a row is not cached")

	// A token in the same slot: found every time, never cached.
	const alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	token := ""
	for i := 0; i < 1<<20 && token == ""; i++ {
		b := []byte("ghp_FAKE")
		for n, x := 28+i%20, i; len(b) < 8+n; x = x/7 + len(b) {
			b = append(b, alpha[x%len(alpha)])
		}
		if keySlot(string(b)) == slot {
			token = string(b)
		}
	}
	require.NotEmpty(t, token, "no token found for the slot")
	for i := 0; i < 3; i++ {
		require.True(t, sn.contains(token), "a token in the slot of a cached value is not found")
	}
	v = sn.vals[slot].Load()
	require.True(t, v != nil && *v == clean, "a dirty value took the slot of a clean one")
	require.False(t, sn.contains(clean))

	require.NoError(t, r.Add("k", credential.NewSecret(clean)))
	require.True(t, r.snap.Load().contains(clean), "a value cached clean is not found once it is known")
}

// TestValuesSeenOnceAreNotCached: values that never come twice in a row
// (request IDs) never enter the cache, so they never push out the values
// that do come back.
func TestValuesSeenOnceAreNotCached(t *testing.T) {
	sn := New().snap.Load()
	for i := 0; i < 4096; i++ {
		require.False(t, sn.contains(fmt.Sprintf("req_01FAKE%018d", i)))
	}
	for i := range sn.vals {
		require.Nil(t, sn.vals[i].Load(), "slot %d holds a value seen once", i)
	}
}
