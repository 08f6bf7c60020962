package vault_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/providertest"
	"github.com/credkit/credkit/provider/vault"
)

// realHarness runs the conformance suite against a real Vault or OpenBao
// server: a KV v2 mount (VAULT_KV_MOUNT, default "secret", as a dev server
// has) written with the token in VAULT_TOKEN.
type realHarness struct {
	c     *api.Client
	p     *vault.Provider
	mount string
}

func (h *realHarness) Provider() credential.Provider { return h.p }
func (h *realHarness) Create(t *testing.T, name, value string) string {
	ref := h.mount + "/credkit-test/" + name
	h.Update(t, ref, value)
	t.Cleanup(func() {
		_ = h.c.KVv2(h.mount).DeleteMetadata(context.Background(), strings.TrimPrefix(ref, h.mount+"/"))
	})
	return ref
}
func (h *realHarness) Update(t *testing.T, ref, value string) {
	_, err := h.c.KVv2(h.mount).Put(context.Background(), strings.TrimPrefix(ref, h.mount+"/"), map[string]any{"value": value})
	require.NoError(t, err)
}
func (h *realHarness) Delete(t *testing.T, ref string) {
	require.NoError(t, h.c.KVv2(h.mount).Delete(context.Background(), strings.TrimPrefix(ref, h.mount+"/")))
}
func (h *realHarness) StoresEmpty() {}

// TestIntegrationRealVault runs only when VAULT_ADDR names a server (with
// VAULT_TOKEN allowed to write the KV mount); CI does not set it. This is
// the one skipped test of the package.
func TestIntegrationRealVault(t *testing.T) {
	if os.Getenv("VAULT_ADDR") == "" {
		t.Skip("VAULT_ADDR is not set: no real Vault server to test against")
	}
	cfg := api.DefaultConfig()
	require.NoError(t, cfg.Error)
	defer cfg.HttpClient.CloseIdleConnections()
	c, err := api.NewClient(cfg)
	require.NoError(t, err)
	mount := os.Getenv("VAULT_KV_MOUNT")
	if mount == "" {
		mount = "secret"
	}
	p := vault.New(c)
	defer p.Close()
	providertest.Run(t, &realHarness{c: c, p: p, mount: mount})
}
