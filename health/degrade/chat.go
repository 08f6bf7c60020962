package degrade

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/credkit/credkit/credential"
)

// Message is one chat message.
type Message struct {
	Role    string // "system", "user", "assistant"
	Content string
}

// ChatRequest is a chat completion request.
type ChatRequest struct {
	Model     string
	Messages  []Message
	MaxTokens int
	// Deterministic marks a request whose answer may be reused for the same
	// prompt (temperature 0, a fixed seed): only such requests are read from
	// and written to the prompt cache.
	Deterministic bool
}

// ChatResponse is a chat completion.
type ChatResponse struct {
	Model   string
	Content string
}

// ChatModel is the language model a wrapper calls. Implementations must be
// safe for concurrent use.
type ChatModel interface {
	Chat(ctx context.Context, req ChatRequest) (ChatResponse, error)
}

// Link is one link of a [Chat] chain: a model (another key, another
// model, another provider), the policy it runs under, and an optional
// rewrite of the request for it (to change the model name).
type Link struct {
	Name    string
	Model   ChatModel
	Policy  *Policy
	Rewrite func(ChatRequest) ChatRequest
}

// Chat wraps an ordered chain of [ChatModel]s: the first is the primary, the
// others are tried in order when it fails for a reason another model can fix
// (the dependency unavailable, rate limited, out of quota, its credential
// rejected); a bad request or a canceled caller stops the chain. An answer
// from a fallback is marked [Fallback].
//
// With [WithCache] it keeps an exact-prompt cache of Deterministic requests,
// served marked [Cached]. With [WithChatQueue], a request that every link
// failed for a transient reason waits in the queue for the dependency to
// recover (until the caller's context ends) and its answer is marked
// [Queued].
//
// A Chat is safe for concurrent use.
type Chat struct {
	tracker
	chain []Link
	cache *lru[[sha256.Size]byte, ChatResponse]
	ttl   time.Duration
	clock credential.Clock
	queue *Queue[ChatRequest, ChatResponse]
}

// WithChatQueue sets the queue a [Chat] uses when every link of its chain
// failed for a transient reason. Default none.
func WithChatQueue(q *Queue[ChatRequest, ChatResponse]) Option {
	return func(o *options) { o.chatQueue = q }
}

// NewChat returns the wrapper over chain (at least one link; links without
// a Policy get NewPolicy(link.Name)). It reads [WithClock], [WithLogger],
// [WithCache] (no prompt cache unless given) and [WithChatQueue].
func NewChat(chain []Link, opts ...Option) (*Chat, error) {
	if len(chain) == 0 {
		return nil, credential.NewError("chat", credential.ErrInvalid, "", "empty chain", nil)
	}
	var cacheSet bool
	opts = append(opts, func(o *options) { cacheSet = o.cacheSet })
	o := build(opts)
	c := &Chat{tracker: tracker{name: chain[0].Name, logger: o.logger}, ttl: o.ttl, clock: o.clock, queue: o.chatQueue}
	for _, l := range chain {
		if l.Model == nil {
			return nil, credential.NewError("chat", credential.ErrInvalid, "", "link "+l.Name+" has no model", nil)
		}
		if l.Policy == nil {
			l.Policy = NewPolicy(l.Name, WithClock(o.clock), WithLogger(o.logger))
		}
		c.chain = append(c.chain, l)
	}
	if cacheSet && o.cacheSize > 0 {
		c.cache = newLRU[[sha256.Size]byte, ChatResponse](o.cacheSize)
	}
	return c, nil
}

func promptKey(r ChatRequest) [sha256.Size]byte {
	h := sha256.New()
	var b [8]byte
	put := func(s string) {
		binary.LittleEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	put(r.Model)
	binary.LittleEndian.PutUint64(b[:], uint64(r.MaxTokens))
	h.Write(b[:])
	for _, m := range r.Messages {
		put(m.Role)
		put(m.Content)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// Chat answers req with the first link that succeeds; see [Chat].
func (c *Chat) Chat(ctx context.Context, req ChatRequest) (Result[ChatResponse], error) {
	var key [sha256.Size]byte
	if c.cache != nil && req.Deterministic {
		key = promptKey(req)
		if r, stored, ok := c.cache.get(key); ok && c.clock.Now().Sub(stored) < c.ttl {
			c.mark(Cached, "cache")
			return Result[ChatResponse]{Value: r, Marker: Cached, Source: "cache"}, nil
		}
	}
	var first error
	for i, l := range c.chain {
		lr := req
		if l.Rewrite != nil {
			lr = l.Rewrite(req)
		}
		r, err := Call(ctx, l.Policy, func(ctx context.Context) (ChatResponse, error) { return l.Model.Chat(ctx, lr) })
		if err == nil {
			m := Fresh
			if i > 0 {
				m = Fallback
			}
			if c.cache != nil && req.Deterministic {
				c.cache.put(key, r, c.clock.Now())
			}
			c.mark(m, l.Name)
			return Result[ChatResponse]{Value: r, Marker: m, Source: l.Name}, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrPermanent) {
			return Result[ChatResponse]{}, err
		}
	}
	if c.queue != nil && transient(first) {
		r, err := c.queue.Do(ctx, req)
		if err != nil {
			return Result[ChatResponse]{}, err
		}
		if c.cache != nil && req.Deterministic {
			c.cache.put(key, r, c.clock.Now())
		}
		c.mark(Queued, "queue")
		return Result[ChatResponse]{Value: r, Marker: Queued, Source: "queue"}, nil
	}
	return Result[ChatResponse]{}, first
}

// transient reports whether err says the dependency is down or rate limited
// (and may recover), rather than the request or credential being wrong.
func transient(err error) bool {
	return errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrRateLimited) || errors.Is(err, ErrRetriesExhausted)
}

// Counts returns how many answers carried each marker.
func (c *Chat) Counts() map[Marker]int64 { return c.tracker.Counts() }
