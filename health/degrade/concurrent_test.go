package degrade_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
	"github.com/credkit/credkit/health/degrade/keypool"
	"github.com/credkit/credkit/health/degrade/queue"
)

// TestConcurrentSafe runs the transport with a pool, the embeddings cache
// and the queue from many goroutines at once; -race does the checking.
func TestConcurrentSafe(t *testing.T) {
	fs := newFaultServer(t, step{ByKey: map[string]int{keyOld: 429}, Header: map[string]string{"Retry-After": "1"}})
	pool, err := keypool.New("openai", statics(keyOld, keyNew, keyC))
	require.NoError(t, err)
	p := degrade.NewPolicy("openai", degrade.WithBackoff(time.Millisecond, time.Millisecond))
	c := &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(nil, pool, credential.Bearer()), p)}

	emb := fallback.NewEmbeddings(degrade.NewPolicy("emb"), func(_ context.Context, _ string, in []string) ([][]float32, error) {
		out := make([][]float32, len(in))
		for i := range out {
			out[i] = make([]float32, 8)
		}
		return out, nil
	}, fallback.WithSize(16), fallback.WithTTL(time.Hour))
	q, err := queue.New(degrade.NewPolicy("q"),
		func(ctx context.Context, it queue.Item[int]) (int, error) { return it.Value * 2, nil }, nil, queue.WithWorkers(3))
	require.NoError(t, err)
	defer q.Close()

	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				resp, err := get(t, c, fs.URL)
				if assert.NoError(t, err) {
					assert.Equal(t, 200, resp.StatusCode)
				}
				_, err = emb.Embed(context.Background(), "m", []string{fmt.Sprint(i % 24)})
				assert.NoError(t, err)
				v, err := q.Do(context.Background(), i)
				assert.NoError(t, err)
				assert.Equal(t, 2*i, v)
				_ = pool.Keys()
				_ = p.Status()
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, emb.Len(), 16, "the LRU stays bounded")
}
