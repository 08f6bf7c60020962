package oauth2

// Waiting returns how many callers joined the token request in flight (0
// when there is none), so a test can release the request once they all
// wait on it.
func Waiting(p *Provider) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flight == nil {
		return 0
	}
	return p.flight.waiters
}
