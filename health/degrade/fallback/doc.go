// Package fallback serves an answer when a dependency fails: from another
// link of a chain, from the last good answer, or from a queue, always
// marked so the caller knows how it was produced.
//
// Every type here is generic over the caller's own request and response
// types — an openai.ChatCompletionNewParams and its *openai.ChatCompletion,
// an anthropic.MessageNewParams and its *anthropic.Message, a vector query
// and its matches — so nothing of the request is lost: system prompts,
// tools, temperature, streaming options.
//
//   - [Chain]: an ordered chain of [Link]s (another key, model or provider),
//     ending, optionally, in a [QueueLink]; answers are marked fresh,
//     fallback or queued.
//   - [Cache]: a stale-if-error cache keyed by a function of the request;
//     answers are marked fresh, cached (within [WithTTL]) or stale.
//   - [Embeddings]: a read-through cache of embedding vectors keyed by model
//     and input, that never serves a vector across models or dimensions.
//
// Each constructor has its own option type; [WithClock] and [WithLogger]
// fit all of them, [WithSize] and [WithTTL] only the caches, so a cache
// option given to a chain does not compile. Markers are counted (Counts)
// and a change between fresh and degraded service is logged once.
package fallback
