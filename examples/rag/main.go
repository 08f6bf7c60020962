// Command rag is a retrieval service that keeps answering while its
// dependencies fail: documents are embedded through openai-go v3 (the key
// from a credkit rotate.Set, sent by credential.Transport) with credkit's
// embedding cache, stored and searched in chromem-go (an embedded vector
// database in pure Go), and questions are answered by a chat model with a
// fallback to another model. When the embedding API fails, known texts are
// served from the cache and new documents are queued; when the vector store
// fails, the last good results are served, marked stale; /readyz shows
// each dependency.
//
// Offline (the default) it starts an in-process fake of the OpenAI API and
// plays the outages:
//
//	go run .
//
// Against the real API, serving on :8080 (the key from a credkit URL):
//
//	OPENAI_API_KEY_URL='env://OPENAI_API_KEY' go run . -addr :8080 -docs ./docs
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	chromem "github.com/philippgille/chromem-go"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

func main() {
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := flag.String("addr", ":8080", "listen address (with OPENAI_API_KEY_URL)")
	docs := flag.String("docs", "", "a folder of .txt documents to index at start (with OPENAI_API_KEY_URL)")
	dbDir := flag.String("db", "", "a folder to persist the vector store in (default: in memory)")
	flag.Parse()
	var err error
	if keyURL := os.Getenv("OPENAI_API_KEY_URL"); keyURL != "" {
		err = runReal(ctx, keyURL, *addr, *docs, *dbDir)
	} else {
		var st Stats
		st, err = Demo(ctx, os.Stdout, io.Discard)
		if err == nil {
			err = st.Check()
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

// Models the service uses against the real API.
const (
	embeddingModel = "text-embedding-3-small"
	chatPrimary    = "gpt-4.1"
	chatFallback   = "gpt-4.1-mini"
)

// Keys opens the credentials from their URLs into a rotate.Set, and a
// logger that redacts every value the Set holds. healthTokenURL may be
// empty (then /readyz shows no detail).
func Keys(ctx context.Context, keyURL, healthTokenURL string, logOut io.Writer) (*rotate.Set, *slog.Logger, func(), error) {
	r := redact.New()
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(logOut, nil), r))
	cfgs := []rotate.Config{{Name: "openai", URL: keyURL, Metadata: credential.Metadata{
		Owner: "search-team@example.com", Purpose: "RAG embeddings and answers", System: "api.openai.com",
		Scopes: []string{"model.request"}, RotationPeriod: 90 * 24 * time.Hour}}}
	if healthTokenURL != "" {
		cfgs = append(cfgs, rotate.Config{Name: "health-token", URL: healthTokenURL,
			Metadata: credential.Metadata{Owner: "sre@example.com", Purpose: "read /readyz detail"}})
	}
	set, err := rotate.Open(ctx, provider.NewURLMux(), cfgs, rotate.WithLogger(logger))
	if err != nil {
		return nil, nil, nil, err
	}
	untrack := r.Track(set)
	return set, logger, func() { untrack(); set.Close() }, nil
}

// runReal serves the service against the real OpenAI API.
func runReal(ctx context.Context, keyURL, addr, docsDir, dbDir string) error {
	set, logger, closeKeys, err := Keys(ctx, keyURL, os.Getenv("HEALTH_TOKEN_URL"), os.Stderr)
	if err != nil {
		return err
	}
	defer closeKeys()
	key, err := set.Credential("openai")
	if err != nil {
		return err
	}
	var token string
	if os.Getenv("HEALTH_TOKEN_URL") != "" {
		t, err := set.Get(ctx, "health-token")
		if err != nil {
			return err
		}
		token = t.Reveal() // where the value meets its use: the handler compares it
	}
	db := chromem.NewDB()
	if dbDir != "" {
		if db, err = chromem.NewPersistentDB(dbDir, false); err != nil {
			return err
		}
	}
	store, err := NewChromemStore(db)
	if err != nil {
		return err
	}
	base := os.Getenv("OPENAI_BASE_URL")
	if base == "" {
		base = "https://api.openai.com/v1/"
	}
	svc, err := NewService(Config{BaseURL: base, Key: key, Store: store, EmbeddingModel: embeddingModel,
		ChatModels: []string{chatPrimary, chatFallback}, Logger: logger, HealthToken: token,
		Checks: health.SetChecks(set, health.CredentialOptions{})})
	if err != nil {
		return err
	}
	defer svc.Close()
	if docsDir != "" {
		files, _ := filepath.Glob(filepath.Join(docsDir, "*.txt"))
		var docs []Doc
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			docs = append(docs, Doc{ID: strings.TrimSuffix(filepath.Base(f), ".txt"), Text: string(b)})
		}
		if len(docs) > 0 {
			m, err := svc.Ingest(ctx, docs)
			if err != nil {
				return err
			}
			logger.Info("rag: documents indexed", "count", len(docs), "marker", m.String())
		}
	}
	srv := &http.Server{Addr: addr, Handler: svc, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "rag: serving on %s (POST /v1/documents, POST /v1/ask, GET /readyz)\n", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
