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
//     raw, in fragments of 16 bytes or more, and in the encodings they
//     travel in: base64 (standard and URL, padded or not, wrapped at 64 or
//     76 columns, inside the encoding of a longer text), hex (either case),
//     URL escaping (either hex case), JSON string escaping (once or twice,
//     \u escapes). Values under 8 bytes are refused with [ErrTooShort]:
//     they would match words.
//   - Secrets nobody registered ([DefaultDetectors]): the token formats of
//     the AI providers, clouds and developer services, private key blocks,
//     JWTs, Bearer and Authorization values, passwords in URLs, DSNs and
//     command lines, and the value after any sensitive name
//     ("AWS_SECRET_ACCESS_KEY=", `"api_key":`, "AccessToken:"). The package
//     README has the table of every format. Each detector can be switched
//     off ([WithoutDetectors]); add your own with [WithDetectors].
//   - Sensitive keys, in the Handler: the value of an attribute, map key or
//     struct field whose name is sensitive ([DefaultSensitiveKeys]) is
//     replaced whatever it is, at every depth.
//
// Placeholders ("<token>", "${API_KEY}", "xxx", "your-api-key-here") are
// not secrets, and a count or a cursor ("max_tokens", "next_page_token")
// is not a sensitive name.
//
// [WithReasons] makes replacements say what was there: "[REDACTED:openai]",
// "[REDACTED:known:openai-prod]", "[REDACTED:key]".
//
// # Cost
//
// Every built-in detector is a hand-written scanner that starts at its
// keyword and reads forward over its token's characters: linear time in
// the text, whatever the text, and no window that cuts a long token. A
// text is classified once, 64 bytes at a time (AVX2 on amd64 from 16
// bytes on; portable Go elsewhere, or with the purego build tag, from 256
// bytes on), into the places where a keyword may start — a rare byte
// whose neighbours fit the keyword's — and the runs of bytes that may
// hold a known value or its base64; the scan looks only there, and runs
// the unescaping passes only when the text holds an escape byte. The
// known values are found by a probe whose cost per byte does not grow
// with their number (an 8-byte filter probe every 9 bytes of a long
// enough run), and their encodings by decoding the runs of the text that
// are encoded. Attribute keys, struct
// fields and short values that come back record after record (a model
// name, a user) are judged once and remembered until the known values
// change; a value seen once (a request ID) is not kept. A record with
// nothing to redact is handed on as it is, and a clean text is checked
// without allocating. The README has the measured numbers.
package redact
