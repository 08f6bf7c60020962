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
//   - rotation: after an update, Fetch returns the new value with a new ID;
//   - capabilities: a [credential.VersionChecker] returns the ID Fetch
//     returns, and a new one after an update; [credential.BatchFetcher] and
//     [credential.BatchVersionChecker] agree with Fetch;
//   - concurrency: parallel fetches of one secret agree (run with -race);
//   - context: a canceled context gives an error matching context.Canceled;
//   - no leak: no error text contains the value, nor any 4 bytes of it.
//
// A failure names the rule it broke, never the value.
package providertest
