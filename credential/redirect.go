package credential

import (
	"net/http"
	"net/url"
	"strings"
)

// InjectAllowed reports whether a credential may be put on req. It is true
// for a request the caller made (req.Response is nil), and for a request
// that http.Client makes to follow a redirect only when every request of the
// redirect chain — walked back through req.Response.Request to the first
// one — went to the first request's host or to a subdomain of it, and none
// went from https to plain http:
//
//   - api.example.com → api.example.com (another path or port): allowed
//   - api.example.com → eu.api.example.com: allowed
//   - api.example.com → example.com, evil.example, api.example.com.evil.example: refused
//   - api.example.com → evil.example → api.example.com: refused (the chain left the host once)
//   - https://api.example.com → http://api.example.com: refused (the key would travel in clear text)
//
// The host rule is net/http's own for the sensitive headers a caller sets
// (Authorization, Cookie): host names are compared without their port and
// as they are written (no case folding), an IPv6 address only matches
// itself, and once a chain has left the host it
// never gets the headers back. The scheme rule is stricter than net/http,
// which keeps a caller's Authorization on an https → http redirect to the
// same host. A redirect whose chain cannot be walked back (a Response
// without its Request) is refused.
//
// [Transport] calls it for every request it sees, whatever the [Injector],
// so that a redirect to another host goes out without the key, as a plain
// net/http client would send it; any RoundTripper that injects a credential
// should do the same.
func InjectAllowed(req *http.Request) bool {
	if req == nil || req.URL == nil {
		return false
	}
	if req.Response == nil {
		return true
	}
	// Walk back to the first request, keeping every hop.
	var hops []*url.URL
	r := req
	for r.Response != nil {
		hops = append(hops, r.URL)
		prev := r.Response.Request
		if prev == nil || prev.URL == nil || len(hops) > 64 {
			return false
		}
		r = prev
	}
	first := r.URL
	firstHost := hostName(first)
	for _, u := range hops {
		if u == nil {
			return false
		}
		if strings.EqualFold(first.Scheme, "https") && !strings.EqualFold(u.Scheme, "https") {
			return false
		}
		if !domainOrSubdomain(hostName(u), firstHost) {
			return false
		}
	}
	return true
}

// hostName is u's host name without its port, compared as it is written,
// as net/http compares it: "API.example.com" is not "api.example.com".
func hostName(u *url.URL) string { return u.Hostname() }

// domainOrSubdomain is net/http's isDomainOrSubdomain: sub equals parent,
// or ends in "."+parent; an IPv6 address or a zone only matches itself.
func domainOrSubdomain(sub, parent string) bool {
	if sub == parent {
		return sub != ""
	}
	if parent == "" || strings.ContainsAny(sub, ":%") {
		return false
	}
	if !strings.HasSuffix(sub, parent) {
		return false
	}
	return sub[len(sub)-len(parent)-1] == '.'
}
