package main

import (
	"context"
	"errors"
	"sync/atomic"

	chromem "github.com/philippgille/chromem-go"

	"github.com/credkit/credkit/credential"
)

// Hit is one document a search found.
type Hit struct {
	ID         string  `json:"id"`
	Content    string  `json:"content"`
	Similarity float32 `json:"similarity"`
}

// Store is what the service needs from a vector database. [ChromemStore]
// implements it with chromem-go; a remote database would implement the
// same three methods.
type Store interface {
	// Add stores documents with their vectors.
	Add(ctx context.Context, docs []Doc, vectors [][]float32) error
	// Search returns the n documents nearest to vector, best first.
	Search(ctx context.Context, vector []float32, n int) ([]Hit, error)
	// Ping reports whether the store can answer.
	Ping(ctx context.Context) error
}

// Doc is a document to index.
type Doc struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// ChromemStore keeps the documents in a chromem-go collection: an embedded
// vector database in pure Go (exhaustive cosine search, optionally
// persisted to a folder). The vectors come from the service, so the
// collection's own embedding function is never called.
type ChromemStore struct {
	coll *chromem.Collection
}

// NewChromemStore opens the collection "docs" in db.
func NewChromemStore(db *chromem.DB) (*ChromemStore, error) {
	coll, err := db.GetOrCreateCollection("docs", nil, refuseEmbedding)
	if err != nil {
		return nil, err
	}
	return &ChromemStore{coll: coll}, nil
}

// refuseEmbedding is the collection's embedding function: every vector
// comes from the service (through the embedding cache), so chromem-go must
// never call an API on its own.
func refuseEmbedding(context.Context, string) ([]float32, error) {
	return nil, errors.New("rag: the collection embeds nothing itself")
}

// Add implements [Store].
func (s *ChromemStore) Add(ctx context.Context, docs []Doc, vectors [][]float32) error {
	cd := make([]chromem.Document, len(docs))
	for i, d := range docs {
		cd[i] = chromem.Document{ID: d.ID, Content: d.Text, Embedding: vectors[i]}
	}
	return s.coll.AddDocuments(ctx, cd, 2)
}

// Search implements [Store].
func (s *ChromemStore) Search(ctx context.Context, vector []float32, n int) ([]Hit, error) {
	n = min(n, s.coll.Count())
	if n == 0 {
		return nil, nil
	}
	rs, err := s.coll.QueryEmbedding(ctx, vector, n, nil, nil)
	if err != nil {
		return nil, err
	}
	hits := make([]Hit, len(rs))
	for i, r := range rs {
		hits[i] = Hit{ID: r.ID, Content: r.Content, Similarity: r.Similarity}
	}
	return hits, nil
}

// Ping implements [Store]: an embedded store answers while the process
// lives.
func (s *ChromemStore) Ping(context.Context) error { return nil }

// Count is the number of documents stored.
func (s *ChromemStore) Count() int { return s.coll.Count() }

// Gate puts an outage switch in front of a Store: while it is closed every
// call fails with credential.ErrUnavailable, as a remote vector database
// does when its node is down or a volume is gone. The demo and the tests
// use it to take the store away without touching the service.
type Gate struct {
	Store
	down atomic.Bool
}

// SetDown opens (false) or closes (true) the gate.
func (g *Gate) SetDown(down bool) { g.down.Store(down) }

var errStoreDown = &credential.Error{Op: "search", Name: "vectorstore", Kind: credential.ErrUnavailable}

// Add implements [Store].
func (g *Gate) Add(ctx context.Context, docs []Doc, vectors [][]float32) error {
	if g.down.Load() {
		return errStoreDown
	}
	return g.Store.Add(ctx, docs, vectors)
}

// Search implements [Store].
func (g *Gate) Search(ctx context.Context, vector []float32, n int) ([]Hit, error) {
	if g.down.Load() {
		return nil, errStoreDown
	}
	return g.Store.Search(ctx, vector, n)
}

// Ping implements [Store].
func (g *Gate) Ping(ctx context.Context) error {
	if g.down.Load() {
		return errStoreDown
	}
	return g.Store.Ping(ctx)
}
