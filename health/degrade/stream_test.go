package degrade_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

// sseServer streams events. The first dieBefore requests get their headers
// and then a dropped connection; a request numbered dieAfter gets one event
// and then a dropped connection. gate, when set, is waited on after the
// first event.
type sseServer struct {
	*httptest.Server
	dieBefore int32
	dieAfter  int32
	gate      chan struct{}
	calls     atomic.Int32
	mu        sync.Mutex
	keys      []string
}

func newSSEServer(t *testing.T, s *sseServer) *sseServer {
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.calls.Add(1)
		s.mu.Lock()
		s.keys = append(s.keys, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		if n <= s.dieBefore {
			panic(http.ErrAbortHandler) // headers sent, no byte of the body
		}
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: chunk %d\n\n", i)
			w.(http.Flusher).Flush()
			if i == 1 && n == s.dieAfter {
				panic(http.ErrAbortHandler)
			}
			if i == 1 && s.gate != nil {
				<-s.gate
			}
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(s.Close)
	return s
}

func readEvents(t *testing.T, resp *http.Response, after func(int)) ([]string, error) {
	t.Helper()
	defer resp.Body.Close()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			events = append(events, strings.TrimPrefix(line, "data: "))
			if after != nil {
				after(len(events))
			}
		}
	}
	return events, sc.Err()
}

var allEvents = []string{"chunk 1", "chunk 2", "chunk 3", "[DONE]"}

// A stream that dies before its first byte is another attempt.
func TestStreamRetriedBeforeFirstByte(t *testing.T) {
	s := newSSEServer(t, &sseServer{dieBefore: 2})
	c := &http.Client{Transport: degrade.NewRoundTripper(nil, policyN("openai", 4))}
	resp, err := c.Get(s.URL)
	require.NoError(t, err)
	events, err := readEvents(t, resp, nil)
	require.NoError(t, err)
	assert.Equal(t, allEvents, events)
	assert.Equal(t, int32(3), s.calls.Load())
}

// After the first byte a stream is the caller's: a failure is not replayed.
func TestStreamNotRetriedAfterFirstByte(t *testing.T) {
	s := newSSEServer(t, &sseServer{dieAfter: 1})
	c := &http.Client{Transport: degrade.NewRoundTripper(nil, policyN("openai", 4))}
	resp, err := c.Get(s.URL)
	require.NoError(t, err)
	events, err := readEvents(t, resp, nil)
	assert.Error(t, err, "the caller sees the broken stream")
	assert.Equal(t, []string{"chunk 1"}, events)
	assert.Equal(t, int32(1), s.calls.Load())
}

// A key rotated while a stream is read does not touch the stream; the next
// request carries the new key.
func TestStreamAcrossKeyRotation(t *testing.T) {
	s := newSSEServer(t, &sseServer{gate: make(chan struct{})})
	key := credential.NewStatic("openai", credential.NewSecret(keyOld), credential.Metadata{})
	c := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, policyN("openai", 4))}
	resp, err := c.Get(s.URL)
	require.NoError(t, err)
	events, err := readEvents(t, resp, func(n int) {
		if n == 1 {
			key.Set(credential.NewSecret(keyNew)) // the operator rotates mid-stream
			close(s.gate)
		}
	})
	require.NoError(t, err)
	assert.Equal(t, allEvents, events)

	s.gate = nil
	resp, err = c.Get(s.URL)
	require.NoError(t, err)
	_, err = readEvents(t, resp, nil)
	require.NoError(t, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Equal(t, []string{keyOld, keyNew}, s.keys)
}

func TestStreamCanceledBeforeFirstByte(t *testing.T) {
	s := newSSEServer(t, &sseServer{gate: make(chan struct{})})
	defer close(s.gate)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &http.Client{Transport: degrade.NewRoundTripper(nil, policyN("openai", 4))}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	_, err := c.Do(req)
	assert.ErrorIs(t, err, context.Canceled)
}
