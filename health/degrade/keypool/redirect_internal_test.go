package keypool

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInjectAllowed(t *testing.T) {
	orig, _ := http.NewRequest(http.MethodGet, "https://api.openai.com/v1/models", nil)
	assert.True(t, injectAllowed(orig), "an original request")
	for _, tt := range []struct {
		to   string
		want bool
	}{
		{"https://api.openai.com/v2/models", true},
		{"https://API.OpenAI.com:8443/x", true},
		{"https://eu.api.openai.com/x", true},
		{"https://openai.com/x", false},
		{"https://evil.com/x", false},
		{"https://api.openai.com.evil.com/x", false},
		{"https://xapi.openai.com/x", false},
		{"http://[::1]/x", false},
	} {
		next, _ := http.NewRequest(http.MethodGet, tt.to, nil)
		next.Response = &http.Response{StatusCode: 302, Request: orig}
		assert.Equal(t, tt.want, injectAllowed(next), tt.to)
		// A second hop is judged against the original request.
		third, _ := http.NewRequest(http.MethodGet, tt.to, nil)
		mid, _ := http.NewRequest(http.MethodGet, "https://api.openai.com/hop", nil)
		mid.Response = &http.Response{StatusCode: 302, Request: orig}
		third.Response = &http.Response{StatusCode: 302, Request: mid}
		assert.Equal(t, tt.want, injectAllowed(third), "second hop to %s", tt.to)
	}
}
