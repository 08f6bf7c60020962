package vaultfake

import (
	"github.com/hashicorp/vault/api"
)

// Client returns a real Vault API client that talks to s with token (empty:
// no token) and without retries, so that a test sees each answer as the
// server gave it. The environment (VAULT_ADDR, VAULT_TOKEN...) is ignored.
func (s *Server) Client(token string) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = s.URL
	cfg.HttpClient = s.Server.Client()
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		panic("vaultfake: " + err.Error()) // only on a malformed address, which s.URL is not
	}
	c.SetToken(token)
	c.ClearNamespace()
	return c
}
