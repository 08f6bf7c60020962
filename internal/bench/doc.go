// Package bench holds the benchmarks that compare credkit with the
// libraries a user would otherwise pick. It is a separate module, with its
// own go.mod and a replace to the root, so that users of credkit never
// download a benchmark-only dependency. CI runs each benchmark once so that
// none can rot; the README quotes full runs.
package bench
