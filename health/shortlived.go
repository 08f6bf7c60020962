package health

import (
	"time"

	"github.com/credkit/credkit/rotate"
)

// tokenLife returns the lifetime of a short-lived credential's current
// version, or 0 for a key (a version that does not expire, or lives longer
// than rotate.ShortLivedTTL and is not marked short-lived). shortLived is
// what the inventory knows (the backend's Metadata.ShortLived); the life is
// computed from the status as the inventory computes its TTL.
func tokenLife(st rotate.Status, shortLived bool) time.Duration {
	if st.Expires.IsZero() {
		return 0
	}
	var life time.Duration
	switch {
	case !st.VersionCreated.IsZero() && st.VersionCreated.Before(st.Expires):
		life = st.Expires.Sub(st.VersionCreated)
	case !st.Fetched.IsZero() && st.Fetched.Before(st.Expires):
		life = st.Expires.Sub(st.Fetched)
	}
	if life > 0 && (shortLived || life <= rotate.ShortLivedTTL) {
		return life
	}
	return 0
}

// tokenExpiryWarning judges a fresh short-lived credential's expiry: a
// token close to its expiry is normal while its refresh is ahead of it, so
// the check warns only when less than frac of the token's life remains and
// no refresh is coming in time: the refresh point has passed without a new
// token (a refresh hanging or slower than the token's life allows), or no
// refresh is scheduled before the expiry (the credential is closed). A
// refresh in flight is given a grace of a twentieth of the token's life, at
// most 30 s, so a check that runs while the token endpoint answers does not
// warn.
func tokenExpiryWarning(st rotate.Status, now time.Time, life time.Duration, frac float64) (string, bool) {
	left := st.Expires.Sub(now)
	if float64(left) >= frac*float64(life) {
		return "", false
	}
	exp := st.Expires.UTC().Format(time.RFC3339)
	switch {
	case st.Closed:
		return "token expires at " + exp + "; the credential is closed and no longer refreshes", true
	case st.NextRefresh.IsZero() || !st.NextRefresh.Before(st.Expires):
		return "token expires at " + exp + "; no refresh is scheduled before then", true
	case !now.Before(st.NextRefresh.Add(min(life/20, 30*time.Second))):
		return "token expires at " + exp + "; its refresh was due at " + st.NextRefresh.UTC().Format(time.RFC3339) + " and no new token has arrived", true
	}
	return "", false
}
