package credential

import (
	"context"
	"sync/atomic"
)

// Static is a [Credential] whose value is set in code: for tests, for simple
// programs, and for values that come from somewhere credkit does not manage.
// Get does no I/O and no allocation. Set replaces the value atomically.
type Static struct {
	name string
	md   Metadata
	v    atomic.Pointer[Secret]
}

var _ Credential = (*Static)(nil)

// NewStatic returns a Static credential named name holding s. md.Name is set
// to name.
func NewStatic(name string, s Secret, md Metadata) *Static {
	md.Name = name
	c := &Static{name: name, md: md}
	c.v.Store(&s)
	return c
}

// Name returns the credential's name.
func (c *Static) Name() string { return c.name }

// Get returns the current value, or an error wrapping [ErrNotFound] when it is
// empty.
func (c *Static) Get(ctx context.Context) (Secret, error) {
	s := *c.v.Load()
	if s.IsZero() {
		return Secret{}, &Error{Op: "get", Name: c.name, Kind: ErrNotFound, Reason: "no value"}
	}
	return s, nil
}

// Set replaces the value. Callers of Get see the new value at once.
func (c *Static) Set(s Secret) { c.v.Store(&s) }

// Metadata returns the metadata given to NewStatic.
func (c *Static) Metadata() Metadata { return c.md }
