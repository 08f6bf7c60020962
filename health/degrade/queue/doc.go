// Package queue holds requests while a dependency is down or rate limited
// and runs them when it recovers, through a degrade.Policy.
//
// A [Queue] is bounded ([ErrFull] at once when full), FIFO, with a deadline
// per item, drained by workers at a rate ([WithRate]) and at the pace the
// dependency asks (Retry-After, an open breaker). [Queue.Do] waits for the
// result; [Queue.Submit] returns a [Handle] for batch jobs.
//
// Items live in a [Store] from submission until they have run: a worker
// leases an item, runs it, and only then acknowledges it, so delivery is at
// least once and the run function gets the item's ID as an idempotency key.
// The queue calls the store outside its own lock, with a context, and
// handles its errors. [Queue.Close] stops the workers and leaves the store
// alone; [Queue.Drain] takes every item out and hands it back.
// [NewMemoryStore] is the in-memory store: its items die with the process.
package queue
