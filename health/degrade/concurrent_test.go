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
)

// TestConcurrentSafe runs the transport with a pool, the embeddings cache
// and the queue from many goroutines at once; -race does the checking.
func TestConcurrentSafe(t *testing.T) {
	fs := newFaultServer(t, step{byKey: map[string]int{keyOld: 429}, header: map[string]string{"Retry-After": "1"}})
	pool, err := degrade.NewPool("openai", statics(keyOld, keyNew, keyC), degrade.WithLogger(quiet))
	require.NoError(t, err)
	p := degrade.NewPolicy("openai", degrade.WithLogger(quiet), degrade.WithBackoff(time.Millisecond, time.Millisecond))
	c := &http.Client{Transport: degrade.NewRoundTripper(nil, p, degrade.WithPool(pool, credential.Bearer()))}

	emb := degrade.NewEmbeddings(&fakeEmbedder{dim: 8}, degrade.NewPolicy("emb", degrade.WithLogger(quiet)),
		degrade.WithLogger(quiet), degrade.WithCache(16, time.Hour))
	q := degrade.NewQueue(degrade.NewPolicy("q", degrade.WithLogger(quiet)),
		func(ctx context.Context, v int) (int, error) { return v * 2, nil }, nil, degrade.WithWorkers(3), degrade.WithLogger(quiet))
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
