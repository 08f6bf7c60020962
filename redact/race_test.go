package redact_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/credkit/credkit/redact"
)

// reqErr is an error that holds state other goroutines write, as an SDK's
// error holds its *http.Request and, through it, a context whose map of
// children changes while the request's siblings start and end.
type reqErr struct {
	ctx  context.Context
	Code int
}

func (e *reqErr) Error() string { return "status 401" }

// statusErr prints through String; encoding/json prints its exported
// fields only.
type statusErr struct {
	ctx    context.Context
	Detail string
}

func (s statusErr) String() string { return "status" }

// pool is a plain struct (no printing method) whose unexported field points
// at state other goroutines write: fmt prints that pointer as an address
// and encoding/json skips the field, so neither handler reads what it
// points to.
type pool struct {
	Name  string
	state *poolState
}

type poolState struct{ ctx context.Context }

// Regression: the handler walked the unexported fields of an error
// attribute (which neither slog handler prints) down to a context's map of
// children and read it while another goroutine wrote it: a data race, and
// at worst "concurrent map iteration and map write", which ends the
// process. Run with -race.
func TestHandlerNeverReadsWhatNoHandlerPrints(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // writes ctx's map of children, as concurrent requests do
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, c := context.WithCancel(ctx)
			c()
		}
	}()
	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(redact.NewHandler(newHandler(&buf), redact.New()))
		for i := 0; i < 2000; i++ {
			log.Error("call failed", "err", &reqErr{ctx: ctx, Code: 401},
				"nested", map[string]any{"cause": &reqErr{ctx: ctx}, "status": statusErr{ctx: ctx, Detail: "x"}},
				"pool", &pool{Name: "db", state: &poolState{ctx: ctx}})
		}
	}
	close(stop)
	wg.Wait()
}
