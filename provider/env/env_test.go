package env_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/env"
	"github.com/credkit/credkit/provider/providertest"
)

// vars is a concurrency-safe environment for the harness.
type vars struct {
	mu sync.RWMutex
	m  map[string]string
}

func (v *vars) lookup(name string) (string, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s, ok := v.m[name]
	return s, ok
}

func (v *vars) set(name, value string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m[name] = value
}

type harness struct {
	v *vars
	p *env.Provider
}

func (h *harness) Provider() credential.Provider { return h.p }
func (h *harness) Create(t *testing.T, name, value string) string {
	n := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	h.v.set("APP_"+n, value)
	return n
}
func (h *harness) Update(t *testing.T, ref, value string) { h.v.set("APP_"+ref, value) }
func (h *harness) Delete(t *testing.T, ref string) {
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	delete(h.v.m, "APP_"+ref)
}

func TestConformance(t *testing.T) {
	v := &vars{m: map[string]string{}}
	providertest.Run(t, &harness{v: v, p: env.New(env.WithPrefix("APP_"), env.WithLookup(v.lookup))})
}

func TestProcessEnvironment(t *testing.T) {
	t.Setenv("CREDKIT_TEST_OPENAI_API_KEY", "sk-proj-FAKE0000000000000000000000000000")
	t.Setenv("CREDKIT_TEST_EMPTY", "")
	p := env.New()
	v, err := p.Fetch(context.Background(), "CREDKIT_TEST_OPENAI_API_KEY")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == "sk-proj-FAKE0000000000000000000000000000", "value mismatch")
	assert.Len(t, v.ID, 16)

	_, err = p.Fetch(context.Background(), "CREDKIT_TEST_EMPTY")
	assert.True(t, errors.Is(err, credential.ErrInvalid), "an empty variable is invalid")
	_, err = p.Fetch(context.Background(), "CREDKIT_TEST_UNSET_VARIABLE")
	assert.True(t, errors.Is(err, credential.ErrNotFound))
	assert.Contains(t, err.Error(), "CREDKIT_TEST_UNSET_VARIABLE is not set")
	_, err = p.Fetch(context.Background(), "")
	assert.True(t, errors.Is(err, credential.ErrInvalid))
}

func TestSizeAndEncoding(t *testing.T) {
	m := map[string]string{"BIG": strings.Repeat("k", 100), "BAD": "sk-\xff\xfeFAKEFAKE"}
	p := env.New(env.WithMaxSize(64), env.WithLookup(func(n string) (string, bool) { s, ok := m[n]; return s, ok }))
	_, err := p.Fetch(context.Background(), "BIG")
	assert.True(t, errors.Is(err, credential.ErrInvalid))
	assert.Contains(t, err.Error(), "over the limit")
	_, err = p.Fetch(context.Background(), "BAD")
	assert.True(t, errors.Is(err, credential.ErrInvalid))
	assert.Contains(t, err.Error(), "UTF-8")
}

func (h *harness) StoresEmpty()      {}
func (h *harness) BadRefs() []string { return []string{"A=B", "NUL\x00NAME"} }

func TestValuesWithNULOrLineBreaksAreRefused(t *testing.T) {
	m := map[string]string{
		"NL": "sk-FAKE0000\nX-Evil: 1", "CR": "sk-FAKE0000\rX", "NUL": "sk-FAKE\x000000",
		"TRAILING": "sk-FAKE0000\n", "JSON": "{\n \"k\": \"sk-FAKE\\n0000\"\n}",
	}
	p := env.New(env.WithLookup(func(n string) (string, bool) { s, ok := m[n]; return s, ok }))
	for _, ref := range []string{"NL", "CR", "NUL", "JSON#k"} {
		_, err := p.Fetch(context.Background(), ref)
		assert.True(t, errors.Is(err, credential.ErrInvalid), ref)
	}
	v, err := p.Fetch(context.Background(), "TRAILING")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == "sk-FAKE0000", "one trailing newline is trimmed")
}
