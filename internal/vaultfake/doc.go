// Package vaultfake is an in-process fake of HashiCorp Vault that speaks its
// HTTP API (JSON over /v1/...), so the real *api.Client of
// github.com/hashicorp/vault/api can be tested against it.
//
// It implements what credkit's Vault backend uses:
//
//   - KV version 2 mounts: data (read with ?version=, write), metadata (read,
//     custom_metadata write, delete), soft delete, undelete-free destroy,
//     with Vault's 404 body for a deleted or destroyed version;
//   - KV version 1 mounts: read, write, delete;
//   - a database-style dynamic engine: MOUNT/creds/ROLE mints a username and
//     a password under a lease with the role's default and max TTL; with a
//     [DBPlugin] the user is created, renewed and dropped in a real
//     database, and [Server.Expire] revokes the leases whose time is up;
//   - sys/leases/renew, sys/leases/revoke, sys/leases/lookup;
//   - sys/internal/ui/mounts/PATH (the mount preflight of Vault's CLI);
//   - tokens: auth/token/lookup-self, renew-self, revoke-self, with TTL and
//     max TTL enforced on every request;
//   - AppRole, Kubernetes and JWT login.
//
// Time comes from a [credential.Clock] (a fakeclock in tests), so TTLs and
// max TTLs run on the test's clock. Tests deny paths (403 as Vault's ACLs
// do), seal the server (503 "Vault is sealed"), inject faults per path, and
// read call counters.
package vaultfake
