package providertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
)

// Harness drives the backend under test.
type Harness interface {
	// Provider returns the provider under test.
	Provider() credential.Provider
	// Create stores a new secret called name holding value and returns the
	// ref that fetches it. name is unique within a Run.
	Create(t *testing.T, name, value string) (ref string)
	// Update stores value as the new current version of the secret at ref.
	Update(t *testing.T, ref, value string)
	// Delete removes the secret at ref.
	Delete(t *testing.T, ref string)
}

// Denier is implemented by harnesses of backends with permissions: after
// Deny, fetching ref must fail with ErrPermission.
type Denier interface {
	Deny(t *testing.T, ref string)
}

// FieldRefer is implemented by harnesses of backends whose refs do not take
// the "#field" suffix as the last part (the default is ref+"#"+field).
type FieldRefer interface {
	FieldRef(ref, field string) string
}

// BadRefer is implemented by harnesses that know malformed refs of their
// backend (a path with a NUL byte, a name with forbidden characters...):
// fetching each must fail with an error wrapping ErrInvalid.
type BadRefer interface {
	BadRefs() []string
}

// EmptyStorer is implemented by harnesses whose backend can store an empty
// value: fetching it must fail with ErrInvalid (an empty key is a
// misconfiguration, never a credential).
type EmptyStorer interface {
	StoresEmpty()
}

// The values the suite stores. They are spelled so that no 4 of their bytes
// occur in ordinary error text (no English words, no hex runs), which makes
// the leak check exact.
const (
	valueA = "ckt_QzXvKwJqYzPxWvQkZjXyVqWzKxJvGq"
	valueB = "ckt_WvJzQxKyPqZvXwJkYzQvWxKjZyPqRx"
	valueC = "ckt_ZyKxWqJvPzYxQwVkJzXqYwKvZjQxMw"
)

var secrets = []string{valueA, valueB, valueC}

// suite carries one Run's state.
type suite struct {
	h    Harness
	p    credential.Provider
	n    atomic.Int32
	mu   sync.Mutex
	errs []error
}

func (s *suite) name() string { return fmt.Sprintf("credkit-conformance-%d", s.n.Add(1)) }

// record keeps err for the final leak check and returns it.
func (s *suite) record(err error) error {
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
	}
	return err
}

func (s *suite) fieldRef(ref, field string) string {
	if f, ok := s.h.(FieldRefer); ok {
		return f.FieldRef(ref, field)
	}
	return ref + "#" + field
}

func (s *suite) fetch(ref string) (credential.Version, error) {
	v, err := s.p.Fetch(context.Background(), ref)
	return v, s.record(err)
}

// Run runs the conformance suite against h as subtests of t.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h, p: h.Provider()}
	t.Run("fetch", s.testFetch)
	t.Run("field", s.testField)
	t.Run("not found", s.testNotFound)
	t.Run("permission", s.testPermission)
	t.Run("bad input", s.testBadInput)
	t.Run("rotation", s.testRotation)
	t.Run("version checker", s.testVersionChecker)
	t.Run("batch", s.testBatch)
	t.Run("notifier", s.testNotifier)
	t.Run("concurrency", s.testConcurrency)
	t.Run("context", s.testContext)
	t.Run("no value in errors", s.testNoLeak)
}

func (s *suite) testFetch(t *testing.T) {
	ref := s.h.Create(t, s.name(), valueA)
	v, err := s.fetch(ref)
	if err != nil {
		t.Fatalf("rule: a created secret is fetched: Fetch failed: %v", redactAll(err))
	}
	if v.Secret.Reveal() != valueA {
		t.Fatalf("rule: Fetch returns the stored value: got a different value (%d bytes, want %d)", v.Secret.Len(), len(valueA))
	}
	if v.ID == "" {
		t.Fatalf("rule: Fetch returns a version ID: ID is empty")
	}
	v2, err := s.fetch(ref)
	if err != nil || v2.ID != v.ID {
		t.Fatalf("rule: fetching an unchanged secret twice returns the same version ID: got %q then %q (err %v)", v.ID, v2.ID, redactAll(err))
	}
}

func (s *suite) testField(t *testing.T) {
	ref := s.h.Create(t, s.name(), `{"api_key":"`+valueB+`","org":"org-fake","retries":3,"nested":{"a":"b"}}`)
	v, err := s.fetch(s.fieldRef(ref, "api_key"))
	if err != nil {
		t.Fatalf("rule: #field selects a JSON field: Fetch failed: %v", redactAll(err))
	}
	if v.Secret.Reveal() != valueB {
		t.Fatalf("rule: #field selects a JSON field: got another value (%d bytes)", v.Secret.Len())
	}
	if v, err := s.fetch(s.fieldRef(ref, "retries")); err != nil || v.Secret.Reveal() != "3" {
		t.Fatalf("rule: a numeric field is returned as its JSON text (err %v)", redactAll(err))
	}
	if _, err := s.fetch(s.fieldRef(ref, "missing")); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("rule: a missing field wraps credential.ErrNotFound: got %v", redactAll(err))
	}
	if _, err := s.fetch(s.fieldRef(ref, "nested")); !errors.Is(err, credential.ErrInvalid) {
		t.Fatalf("rule: an object field wraps credential.ErrInvalid: got %v", redactAll(err))
	}
	plain := s.h.Create(t, s.name(), valueC+" {not json")
	if _, err := s.fetch(s.fieldRef(plain, "api_key")); !errors.Is(err, credential.ErrInvalid) {
		t.Fatalf("rule: a field of a value that is not JSON wraps credential.ErrInvalid: got %v", redactAll(err))
	}
}

func (s *suite) testNotFound(t *testing.T) {
	ref := s.h.Create(t, s.name(), valueA)
	s.h.Delete(t, ref)
	_, err := s.fetch(ref)
	if !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("rule: a deleted secret wraps credential.ErrNotFound: got %v", redactAll(err))
	}
	var ce *credential.Error
	if !errors.As(err, &ce) {
		t.Fatalf("rule: errors are *credential.Error (naming op, ref and reason): got %T", err)
	}
}

func (s *suite) testPermission(t *testing.T) {
	d, ok := s.h.(Denier)
	if !ok {
		t.Log("the backend has no permissions to deny (harness is not a providertest.Denier)")
		return
	}
	ref := s.h.Create(t, s.name(), valueA)
	d.Deny(t, ref)
	if _, err := s.fetch(ref); !errors.Is(err, credential.ErrPermission) {
		t.Fatalf("rule: a denied secret wraps credential.ErrPermission: got %v", redactAll(err))
	}
}

func (s *suite) testBadInput(t *testing.T) {
	if _, err := s.fetch(""); !errors.Is(err, credential.ErrInvalid) && !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("rule: an empty ref fails with ErrInvalid (or ErrNotFound): got %v", redactAll(err))
	}
	if b, ok := s.h.(BadRefer); ok {
		for i, ref := range b.BadRefs() {
			if _, err := s.fetch(ref); !errors.Is(err, credential.ErrInvalid) {
				t.Errorf("rule: a malformed ref wraps credential.ErrInvalid: bad ref %d gave %v", i, redactAll(err))
			}
		}
	}
	if _, ok := s.h.(EmptyStorer); ok {
		ref := s.h.Create(t, s.name(), "")
		if _, err := s.fetch(ref); !errors.Is(err, credential.ErrInvalid) {
			t.Errorf("rule: an empty value wraps credential.ErrInvalid: got %v", redactAll(err))
		}
		s.h.Update(t, ref, "  \n")
		if _, err := s.fetch(ref); !errors.Is(err, credential.ErrInvalid) {
			t.Errorf("rule: a blank value wraps credential.ErrInvalid: got %v", redactAll(err))
		}
	}
}

// testNotifier checks a credential.Notifier: an update calls changed within
// 5 seconds, and stop is idempotent and final.
func (s *suite) testNotifier(t *testing.T) {
	n, ok := s.p.(credential.Notifier)
	if !ok {
		t.Log("the provider is not a credential.Notifier")
		return
	}
	ref := s.h.Create(t, s.name(), valueA)
	called := make(chan struct{}, 1)
	var after atomic.Bool
	var late atomic.Int32
	stop, err := n.NotifyChange(ref, func() {
		if after.Load() {
			late.Add(1)
		}
		select {
		case called <- struct{}{}:
		default:
		}
	})
	if s.record(err) != nil {
		t.Fatalf("rule: NotifyChange of an existing secret succeeds: %v", redactAll(err))
	}
	s.h.Update(t, ref, valueB)
	select {
	case <-called:
	case <-time.After(5 * time.Second):
		stop()
		t.Fatal("rule: after an update, a Notifier calls changed (none within 5s)")
	}
	stop()
	stop()
	after.Store(true)
	s.h.Update(t, ref, valueC)
	time.Sleep(100 * time.Millisecond)
	if late.Load() > 0 {
		t.Fatal("rule: after stop returns, changed is never called")
	}
}

func (s *suite) testRotation(t *testing.T) {
	ref := s.h.Create(t, s.name(), valueA)
	v1, err := s.fetch(ref)
	if err != nil {
		t.Fatalf("fetch: %v", redactAll(err))
	}
	s.h.Update(t, ref, valueB)
	v2, err := s.fetch(ref)
	if err != nil {
		t.Fatalf("rule: an updated secret is fetched: %v", redactAll(err))
	}
	if v2.Secret.Reveal() != valueB {
		t.Fatalf("rule: after an update, Fetch returns the new value")
	}
	if v2.ID == v1.ID {
		t.Fatalf("rule: after an update, Fetch returns a new version ID: both are %q", v1.ID)
	}
}

func (s *suite) testVersionChecker(t *testing.T) {
	vc, ok := s.p.(credential.VersionChecker)
	if !ok {
		t.Log("the provider is not a credential.VersionChecker")
		return
	}
	ref := s.h.Create(t, s.name(), valueA)
	v, err := s.fetch(ref)
	if err != nil {
		t.Fatalf("fetch: %v", redactAll(err))
	}
	id, err := vc.CurrentVersion(context.Background(), ref)
	if s.record(err) != nil || id != v.ID {
		t.Fatalf("rule: CurrentVersion returns the ID Fetch returns: got %q, Fetch gave %q (err %v)", id, v.ID, redactAll(err))
	}
	s.h.Update(t, ref, valueC)
	id2, err := vc.CurrentVersion(context.Background(), ref)
	if s.record(err) != nil || id2 == id {
		t.Fatalf("rule: CurrentVersion changes after an update: still %q (err %v)", id2, redactAll(err))
	}
	v2, err := s.fetch(ref)
	if err != nil || v2.ID != id2 {
		t.Fatalf("rule: after an update, CurrentVersion and Fetch agree: %q vs %q (err %v)", id2, v2.ID, redactAll(err))
	}
	missing := s.h.Create(t, s.name(), valueA)
	s.h.Delete(t, missing)
	if _, err := vc.CurrentVersion(context.Background(), missing); !errors.Is(s.record(err), credential.ErrNotFound) {
		t.Fatalf("rule: CurrentVersion of a deleted secret wraps credential.ErrNotFound: got %v", redactAll(err))
	}
}

func (s *suite) testBatch(t *testing.T) {
	bf, isBF := s.p.(credential.BatchFetcher)
	bv, isBV := s.p.(credential.BatchVersionChecker)
	if !isBF && !isBV {
		t.Log("the provider has no batch capability")
		return
	}
	refs := []string{s.h.Create(t, s.name(), valueA), s.h.Create(t, s.name(), valueB), s.h.Create(t, s.name(), valueC)}
	want := map[string]credential.Version{}
	for _, r := range refs {
		v, err := s.fetch(r)
		if err != nil {
			t.Fatalf("fetch: %v", redactAll(err))
		}
		want[r] = v
	}
	if isBF {
		got, err := bf.FetchBatch(context.Background(), refs)
		if s.record(err) != nil {
			t.Fatalf("rule: FetchBatch of existing secrets succeeds: %v", redactAll(err))
		}
		for _, r := range refs {
			g, ok := got[r]
			if !ok {
				continue // allowed: the caller falls back to Fetch
			}
			if !g.Secret.Equal(want[r].Secret) || g.ID != want[r].ID {
				t.Fatalf("rule: FetchBatch agrees with Fetch: ref %d differs (IDs %q vs %q)", indexOf(refs, r), g.ID, want[r].ID)
			}
		}
	}
	if isBV {
		got, err := bv.CurrentVersions(context.Background(), refs)
		if s.record(err) != nil {
			t.Fatalf("rule: CurrentVersions of existing secrets succeeds: %v", redactAll(err))
		}
		for _, r := range refs {
			if id, ok := got[r]; ok && id != want[r].ID {
				t.Fatalf("rule: CurrentVersions agrees with Fetch: %q vs %q", id, want[r].ID)
			}
		}
	}
}

func indexOf(refs []string, r string) int {
	for i, x := range refs {
		if x == r {
			return i
		}
	}
	return -1
}

func (s *suite) testConcurrency(t *testing.T) {
	ref := s.h.Create(t, s.name(), valueA)
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				v, err := s.fetch(ref)
				if err != nil || v.Secret.Reveal() != valueA {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Fatalf("rule: concurrent fetches of one secret all succeed with its value: %d of 160 did not", n)
	}
}

func (s *suite) testContext(t *testing.T) {
	ref := s.h.Create(t, s.name(), valueA)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.p.Fetch(ctx, ref)
	s.record(err)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("rule: Fetch with a canceled context returns an error matching context.Canceled: got %v", redactAll(err))
	}
}

func (s *suite) testNoLeak(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) == 0 {
		t.Fatal("the suite recorded no error to check")
	}
	for i, err := range s.errs {
		text := err.Error() + fmt.Sprintf(" %+v %#v", err, err)
		for _, v := range secrets {
			if off := Leak(text, v); off >= 0 {
				t.Errorf("rule: no error text contains any 4 bytes of a value: error %d (kind %s) holds 4 bytes of a stored value at offset %d", i, credential.KindName(err), off)
			}
		}
	}
}

// Leak returns the offset in value of the first 4 bytes of value found in
// text, or -1. Tests use it to check that an output holds no part of a
// secret, and report the offset rather than the bytes.
func Leak(text, value string) int {
	for i := 0; i+4 <= len(value); i++ {
		if strings.Contains(text, value[i:i+4]) {
			return i
		}
	}
	return -1
}

// redactAll returns err's text with every 4-byte run of the suite's values
// masked, so that a failure message never shows a value even when the
// provider under test leaks one.
func redactAll(err error) string {
	if err == nil {
		return "<nil>"
	}
	text := err.Error()
	for _, v := range secrets {
		for i := 0; i+4 <= len(v); i++ {
			text = strings.ReplaceAll(text, v[i:i+4], "****")
		}
	}
	return text
}
