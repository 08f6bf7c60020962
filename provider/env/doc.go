// Package env is the credkit backend for environment variables.
//
// # Refs
//
// A ref is a variable name, optionally with a "#field" selector for a
// variable that holds a JSON object:
//
//	p := env.New()
//	v, err := p.Fetch(ctx, "OPENAI_API_KEY")
//	v, err = p.Fetch(ctx, "DB_CREDENTIALS#password")
//
// [WithPrefix] namespaces every ref ("OPENAI_API_KEY" reads
// MYAPP_OPENAI_API_KEY); [WithLookup] replaces os.LookupEnv, so tests need
// not mutate the process environment.
//
// # Errors
//
// A missing variable, or a missing field, is [credential.ErrNotFound]. An
// empty value, one over the size limit ([WithMaxSize], 64 KiB by default),
// invalid UTF-8, a value holding a NUL, CR or LF (one trailing newline is
// trimmed first), a "#field" on a value that is not a JSON object, and a
// field that is an object or an array are [credential.ErrInvalid]. Errors
// name the variable and the problem, never the value.
//
// # Versions
//
// The version ID is [credential.ContentID] of the selected value: a keyed
// hash (HMAC-SHA-256, 16 hex digits) under the fingerprint key, so a
// rotate.Watch sees a change when the value changes (environment variables
// only change inside the process, through os.Setenv or a test), and an ID
// shown in a status page, an event or a log lets nobody confirm a guessed
// value offline. The key is random per process unless the operator sets
// one with [credential.SetFingerprintKey]; then IDs are equal across a
// fleet and across restarts.
//
// # Advice
//
// Environment variables are the weakest place to keep a key: every child
// process inherits them and crash reporters dump them. Prefer files or a
// secret manager in production; the env backend is for development and for
// platforms that inject secrets only this way.
package env
