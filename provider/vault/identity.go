package vault

import (
	"net/url"
	"strings"
)

// vaultURL returns the URL of path on the Vault server, as scheme, host and
// "/v1/" path only (the address's user info and query, if any, are left
// out), for the inventory's issuer of a token or lease.
func (p *Provider) vaultURL(path string) string {
	u, err := url.Parse(p.c.Address())
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/") + "/v1/" + strings.Trim(path, "/")
}

// nsPath prefixes path with a Vault Enterprise namespace, if any.
func nsPath(ns, path string) string {
	if ns = strings.Trim(ns, "/"); ns != "" {
		return ns + "/" + path
	}
	return path
}

// authMount returns the mount path of an auth method: the one an Auth of
// this package was given, or its method's default.
func authMount(a Auth) string {
	var mount string
	switch a := a.(type) {
	case *AppRoleAuth:
		mount = a.Mount
	case *KubernetesAuth:
		mount = a.Mount
	case *JWTAuth:
		mount = a.Mount
	}
	if mount = strings.Trim(mount, "/"); mount == "" {
		mount = a.Method()
	}
	return mount
}

// subject names the Vault identity the provider's token belongs to, for
// the inventory: its entity ID when Vault gives one, else the role a
// Kubernetes or JWT login asks for ("role:NAME"), else "".
func (m *tokenManager) subject(s AuthStatus) string {
	if s.EntityID != "" {
		return s.EntityID
	}
	switch a := m.auth.(type) {
	case *KubernetesAuth:
		if r := identifier(a.Role); r != "" {
			return "role:" + r
		}
	case *JWTAuth:
		if r := identifier(a.Role); r != "" {
			return "role:" + r
		}
	}
	return ""
}

// identifier keeps s when it looks like an identifier Vault gave or was
// given (printable, no spaces, at most 128 bytes), "" otherwise.
func identifier(s string) string {
	if len(s) > 128 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return ""
		}
	}
	return s
}
