// Package redact keeps secret values out of logs. credential.Secret already
// prints [REDACTED]; this package catches what slips past the type system:
// a raw string that holds a key — an SDK error quoting a URL with ?key=, a
// header dump, a connection string, someone logging Reveal() — in any
// field, at any depth.
//
// # The one line
//
//	r := redact.New()
//	stop := r.Track(set) // a rotate.Set: every value it holds, old versions too
//	defer stop()
//	slog.SetDefault(slog.New(redact.NewHandler(slog.NewJSONHandler(os.Stderr, nil), r)))
//	log.SetOutput(r.Writer(os.Stderr)) // the standard log package too
//
// Wrap a new handler, not slog.Default().Handler(): that one writes
// through the log package, which slog.SetDefault points back at the new
// default, and the program deadlocks. [NewHandler] detects it and writes to
// the log package's current output instead.
//
// # What is removed
//
//   - Known values: the exact values credkit holds ([Redactor.Add],
//     [Redactor.AddAll], [Redactor.Track] of a credential.SecretSource),
//     raw and in the encodings they travel in: base64 (standard and URL,
//     padded or not, also inside the encoding of a longer text), hex (both
//     cases), URL query and path escaping, JSON string escaping. Values
//     under 8 bytes are refused with [ErrTooShort]: they would match words.
//   - Well-known token formats ([DefaultDetectors]): OpenAI, Anthropic,
//     Google, Hugging Face, Groq, Replicate, Perplexity, xAI, OpenRouter,
//     Pinecone, Together, NVIDIA, LangSmith, AWS access keys and Bedrock API
//     keys, GitHub, Slack, Stripe, JWTs, PEM private keys, Authorization and
//     API-key headers, passwords in URLs and connection strings, secret
//     query parameters. Each can be switched off ([WithoutDetectors]); add
//     your own with [WithDetectors].
//   - Sensitive keys, in the Handler: the value of an attribute whose key
//     is "password", "api_key", "authorization"... ([DefaultSensitiveKeys])
//     is replaced whatever it is.
//
// [WithReasons] makes replacements say what was there: "[REDACTED:openai]",
// "[REDACTED:known:openai-prod]", "[REDACTED:key]".
//
// # Cost
//
// The known values are found by a scan whose cost per byte does not grow
// with their number (an 8-byte-anchored filter, not a loop or an
// alternation), and the detectors' patterns run only on short windows
// around a keyword, found from its rarest byte by strings.IndexByte.
// Keywords are case-sensitive, and an all-lowercase word such as "bearer"
// has no rare byte to be found by, so lowercase header forms are caught by
// the "authorization" detector or keyed on their separator ("apikey:"). A record with nothing to redact is
// handed on as it is, with no allocation by the Handler. The README has the
// measured numbers.
package redact
