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
// invalid UTF-8, a "#field" on a value that is not a JSON object, and a
// field that is an object or an array are [credential.ErrInvalid]. Errors
// name the variable and the problem, never the value.
//
// # Versions
//
// The version ID is the first 16 hex digits of the SHA-256 of the selected
// value, so a rotate.Watch sees a change when the value changes
// (environment variables only change inside the process, through os.Setenv
// or a test). A plain, unkeyed hash was chosen over a keyed one on purpose:
// IDs stay equal across processes and restarts (a keyed hash would need a
// key that outlives the process, i.e. another secret), and a 64-bit prefix
// of the hash of a high-entropy API key lets nobody confirm a guess they
// could not already confirm by calling the API with it. The ID is an
// internal version marker; show [credential.Secret.Fingerprint] to people.
//
// # Advice
//
// Environment variables are the weakest place to keep a key: every child
// process inherits them and crash reporters dump them. Prefer files or a
// secret manager in production; the env backend is for development and for
// platforms that inject secrets only this way.
package env
