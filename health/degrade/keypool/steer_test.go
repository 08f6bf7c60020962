package keypool_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/health/degrade/keypool"
	"github.com/credkit/credkit/internal/fakeclock"
)

// A key whose rate-limit headers say its budget is spent is skipped until
// the reset, before it ever gets a 429.
func TestPoolSteersAwayFromSpentKey(t *testing.T) {
	start := time.Now()
	tests := []struct {
		name   string
		header map[string]string
		steer  bool
	}{
		{"openai", map[string]string{"X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "30s",
			"X-Ratelimit-Remaining-Tokens": "90000", "X-Ratelimit-Reset-Tokens": "1ms"}, true},
		{"anthropic", map[string]string{"Anthropic-Ratelimit-Tokens-Remaining": "0",
			"Anthropic-Ratelimit-Tokens-Reset": start.Add(30 * time.Second).UTC().Format(time.RFC3339)}, true},
		{"azure reports 0 where it does not know", map[string]string{"X-Ratelimit-Remaining-Requests": "0",
			"X-Ratelimit-Reset-Requests": "30s", "X-Ms-Region": "Sweden Central"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := fakeclock.New(start)
			fs := newFaultServer(t, step{Status: 200, Header: tt.header}, step{Status: 200})
			pool := poolOf(t, clk, statics(keyOld, keyNew))
			c, _ := client(clk, pool)
			for i := 0; i < 5; i++ {
				resp, err := get(t, c, fs.URL)
				require.NoError(t, err)
				require.Equal(t, 200, resp.StatusCode)
			}
			got := countKeys(fs.Keys())
			if !tt.steer {
				assert.Equal(t, 3, got[keyOld], "round robin as usual")
				return
			}
			assert.Equal(t, 1, got[keyOld], "the spent key was skipped")
			assert.Equal(t, keypool.Cooling, pool.Keys()[0].Status)
			clk.Advance(31 * time.Second)
			assert.Equal(t, keypool.Ready, pool.Keys()[0].Status, "back after the reset")
		})
	}
}

// recorder is a server that records the Authorization header it saw.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newRecorder(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.auth = append(rec.auth, r.Header.Get("Authorization"))
		rec.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth...)
}

// Issue 11: a key never goes into a redirect to another host, through a
// real http.Client following a 302.
func TestPoolNeverInjectsIntoCrossHostRedirect(t *testing.T) {
	pool := poolOf(t, newClock(), statics(keyOld))
	other := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	// The same listener under another name: another host to net/http.
	otherHost := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	origin := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, otherHost+"/landing", http.StatusFound)
		case "/same":
			// Same host name, another port: net/http keeps sensitive
			// headers, and so does the pool.
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		}
	})
	c := &http.Client{Transport: keypool.NewTransport(nil, pool, nil)}

	resp, err := c.Get(origin.URL + "/away")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []string{"Bearer " + keyOld}, origin.seen())
	assert.Equal(t, []string{""}, other.seen(), "no key to another host")

	resp, err = c.Get(origin.URL + "/same")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []string{"", "Bearer " + keyOld}, other.seen())
}
