// Package providertest is the conformance suite every credkit backend
// passes. A backend's test gives [Run] a [Harness] that can create, update
// and delete secrets in the backend under test (an in-process fake of a
// cloud service, a temporary folder, a map of variables), and Run checks the
// rules every consumer of a [credential.Provider] relies on:
//
//   - fetch: a created secret is fetched with its value and a version ID;
//   - field: "#field" selects a field of a JSON secret; a missing field is
//     ErrNotFound; a field of a value that is not JSON, or a field that is an
//     object, is ErrInvalid;
//   - not found: a deleted secret is ErrNotFound;
//   - permission: where the backend has permissions (the harness implements
//     [Denier]), a denied secret is ErrPermission;
//   - bad input: an empty ref, and the malformed refs of a [BadRefer], are
//     ErrInvalid; so is an empty value where the backend can store one
//     ([EmptyStorer]);
//   - rotation: after an update, Fetch returns the new value with a new ID;
//   - capabilities: a [credential.VersionChecker] returns the ID Fetch
//     returns, and a new one after an update; [credential.BatchFetcher] and
//     [credential.BatchVersionChecker] agree with Fetch;
//   - notifier: a [credential.Notifier] calls back after an update, and never
//     after stop returns;
//   - concurrency: parallel fetches of one secret agree (run with -race);
//   - context: a canceled context gives an error matching context.Canceled;
//   - no leak: no error text contains the value, nor any 4 bytes of it.
//
// Optional harness interfaces opt into more checks: [Denier], [BadRefer],
// [EmptyStorer], and [FieldRefer] for refs that do not end in "#field".
// Capabilities the provider lacks are skipped with a log line.
//
// A failure names the rule it broke ("rule: a deleted secret wraps
// credential.ErrNotFound"), never the value: the suite's values are masked
// in every error it prints.
package providertest
