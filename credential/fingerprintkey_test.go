package credential_test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
)

const (
	fleetKey   = "FAKEfleetKEYfleetKEYfleetKEY0000"
	fleetValue = "sk-proj-FAKEfleetvaluefleetvaluefleet00"
)

// replica runs this test binary as another process — a replica, or the
// same service after a restart — and returns the fingerprint and content
// ID it computes for fleetValue, with key as its fingerprint key ("" for
// the default).
func replica(t *testing.T, key string) (fp, id string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFingerprintKeyReplica$", "-test.v")
	cmd.Env = append(os.Environ(), "CREDKIT_TEST_REPLICA=1", "CREDKIT_TEST_REPLICA_KEY="+key)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "replica: %s", out)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "replica: "); ok {
			f := strings.Fields(rest)
			require.Len(t, f, 2)
			return f[0], f[1]
		}
	}
	t.Fatalf("replica printed no result: %s", out)
	return "", ""
}

// TestFingerprintKeyReplica is the body of a replica; it does nothing in a
// normal run.
func TestFingerprintKeyReplica(t *testing.T) {
	if os.Getenv("CREDKIT_TEST_REPLICA") != "1" {
		t.Skip("run as a replica by TestFingerprintKeyAcrossAFleet")
	}
	if k := os.Getenv("CREDKIT_TEST_REPLICA_KEY"); k != "" {
		require.NoError(t, credential.SetFingerprintKey(credential.NewSecret(k)))
		require.NoError(t, credential.SetFingerprintKey(credential.NewSecret(k)), "the same key again is allowed")
	}
	fp := credential.NewSecret(fleetValue).Fingerprint()
	err := credential.SetFingerprintKey(credential.NewSecret("FAKEanotherKEYanotherKEY00"))
	require.True(t, errors.Is(err, credential.ErrInvalid), "the key is set once: %v", err)
	fmt.Printf("replica: %s %s\n", fp, credential.ContentID(fleetValue))
}

// Replicas given the same fingerprint key agree on fingerprints and content
// IDs; by default each process has its own key.
func TestFingerprintKeyAcrossAFleet(t *testing.T) {
	if os.Getenv("CREDKIT_TEST_REPLICA") == "1" {
		t.Skip("in a replica")
	}
	fp1, id1 := replica(t, fleetKey)
	fp2, id2 := replica(t, fleetKey)
	assert.Equal(t, fp1, fp2, "rule: one operator key, one fingerprint across the fleet")
	assert.Equal(t, id1, id2, "rule: content IDs follow the same key")

	// Both are HMAC-SHA-256 under the operator's key.
	m := hmac.New(sha256.New, []byte(fleetKey))
	m.Write([]byte(fleetValue))
	assert.Equal(t, hex.EncodeToString(m.Sum(nil)[:8]), fp1)
	m = hmac.New(sha256.New, []byte(fleetKey))
	m.Write([]byte("credkit content id\x00" + fleetValue))
	assert.Equal(t, hex.EncodeToString(m.Sum(nil)[:8]), id1)

	// This process and a replica without a key each draw their own.
	fp3, id3 := replica(t, "")
	assert.NotEqual(t, credential.NewSecret(fleetValue).Fingerprint(), fp3, "by default a fingerprint is keyed per process")
	assert.NotEqual(t, credential.ContentID(fleetValue), id3)
	assert.NotEqual(t, fp1, fp3)
}

// A content ID is keyed, not a plain hash of the value: a guessed value
// cannot be confirmed from it offline.
func TestContentIDIsKeyed(t *testing.T) {
	sum := sha256.Sum256([]byte(fleetValue))
	id := credential.ContentID(fleetValue)
	assert.Len(t, id, 16)
	assert.NotEqual(t, hex.EncodeToString(sum[:8]), id, "rule: a content ID is not an unkeyed hash")
	assert.Equal(t, id, credential.ContentID(fleetValue), "stable within a process")
	assert.NotEqual(t, credential.NewSecret(fleetValue).Fingerprint(), id, "content IDs and fingerprints differ")
}

// Too late, or too short: a typed error, and nothing changes.
func TestSetFingerprintKeyMisuse(t *testing.T) {
	before := credential.NewSecret(fleetValue).Fingerprint()
	err := credential.SetFingerprintKey(credential.NewSecret(fleetKey))
	assert.True(t, errors.Is(err, credential.ErrInvalid), "after the first fingerprint: %v", err)
	assert.NotContains(t, err.Error(), fleetKey[4:12])
	assert.Equal(t, before, credential.NewSecret(fleetValue).Fingerprint())
	err = credential.SetFingerprintKey(credential.NewSecret("short"))
	assert.True(t, errors.Is(err, credential.ErrInvalid))
}
