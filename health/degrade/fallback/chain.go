package fallback

import (
	"context"
	"errors"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/queue"
)

// Link is one link of a [Chain]: a call over the caller's own request and
// response types (an openai.ChatCompletionNewParams and its
// *openai.ChatCompletion, an anthropic.MessageNewParams and its
// *anthropic.Message, or a type of yours), so that nothing of the request
// is lost — system prompt, tools, temperature, streaming.
type Link[Req, Resp any] struct {
	// Name names the link in markers and logs: "openai", "openai-key-2",
	// "anthropic".
	Name string
	// Call makes the request. It may change it for its provider (another
	// model name) and translate it (an OpenAI request into an Anthropic one).
	Call func(ctx context.Context, req Req) (Resp, error)
	// Policy, when set, runs Call (retry and breaker). Leave it nil when the
	// SDK's *http.Client already has a degrade.RoundTripper: that one
	// retries, and a policy here would only add a breaker. (Both are safe:
	// attempts never multiply.)
	Policy *degrade.Policy

	queued bool
}

// QueueLink returns the last link of a chain: when every link before it
// failed for a transient reason (the dependency down or rate limited, not a
// bad request or a rejected key), the request waits in q for the dependency
// to recover, until the caller's context ends, and its answer is marked
// Queued.
func QueueLink[Req, Resp any](name string, q *queue.Queue[Req, Resp]) Link[Req, Resp] {
	return Link[Req, Resp]{Name: name, Call: q.Do, queued: true}
}

// Chain is an ordered chain of [Link]s: the first is the primary, the
// others are tried in order when it fails for a reason another link can fix
// (the dependency unavailable or rate limited, out of quota, its credential
// rejected). A bad request ([degrade.ErrPermanent], or a Permanent error of
// a link without a policy) and a canceled caller stop the chain. An answer
// is marked Fresh from the first link, Fallback from a later one, Queued
// from a [QueueLink]. Markers are counted ([Chain.Counts]) and a change
// between fresh and degraded service is logged once.
//
// A Chain is safe for concurrent use.
type Chain[Req, Resp any] struct {
	tracker
	links []Link[Req, Resp]
}

// NewChain returns a chain over links (at least one, each with a Call).
// Options: [WithClock] and [WithLogger] (default nowhere).
func NewChain[Req, Resp any](links []Link[Req, Resp], opts ...ChainOption) (*Chain[Req, Resp], error) {
	if len(links) == 0 {
		return nil, credential.NewError("fallback", credential.ErrInvalid, "", "empty chain", nil)
	}
	var o options
	for _, f := range opts {
		if f != nil {
			f.applyChain(&o)
		}
	}
	finish(&o)
	c := &Chain[Req, Resp]{tracker: tracker{name: links[0].Name, logger: o.logger}}
	for _, l := range links {
		if l.Call == nil {
			return nil, credential.NewError("fallback", credential.ErrInvalid, "", "link "+l.Name+" has no Call", nil)
		}
		c.links = append(c.links, l)
	}
	return c, nil
}

// Do answers req with the first link that succeeds; see [Chain]. The error
// is the first link's when every link failed.
func (c *Chain[Req, Resp]) Do(ctx context.Context, req Req) (degrade.Result[Resp], error) {
	var first error
	for i, l := range c.links {
		if l.queued && !transient(first) {
			break
		}
		var r Resp
		var err error
		if l.Policy != nil {
			r, err = degrade.Call(ctx, l.Policy, func(ctx context.Context) (Resp, error) { return l.Call(ctx, req) })
		} else {
			r, err = l.Call(ctx, req)
		}
		if err == nil {
			m := degrade.Fresh
			switch {
			case l.queued:
				m = degrade.Queued
			case i > 0:
				m = degrade.Fallback
			}
			c.mark(m, l.Name)
			return degrade.Result[Resp]{Value: r, Marker: m, Source: l.Name}, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil || final(err, l.Policy != nil) {
			return degrade.Result[Resp]{}, err
		}
	}
	return degrade.Result[Resp]{}, first
}

// Counts returns how many answers carried each marker.
func (c *Chain[Req, Resp]) Counts() map[degrade.Marker]int64 { return c.snapshot() }

// final reports whether err stops the chain: a canceled caller or a bad
// request.
func final(err error, policy bool) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	if policy {
		return errors.Is(err, degrade.ErrPermanent)
	}
	out := degrade.ClassifyError(err)
	return out.Class == degrade.Permanent || out.Class == degrade.Canceled
}

// transient reports whether err says the dependency is down or rate limited
// (and may recover), rather than the request or credential being wrong.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, degrade.ErrCircuitOpen) || errors.Is(err, degrade.ErrRateLimited) || errors.Is(err, degrade.ErrRetriesExhausted) {
		return true
	}
	var de *degrade.Error
	return !errors.As(err, &de) && degrade.ClassifyError(err).Class == degrade.Retryable
}
