package rotate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/file"
	"github.com/credkit/credkit/rotate"
)

func ExampleWatch() {
	dir, _ := os.MkdirTemp("", "rotate-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "openai")
	os.WriteFile(path, []byte("sk-proj-FAKE0000000000000000000000000000"), 0o600)

	ctx := context.Background()
	c, err := rotate.Watch(ctx, "openai", file.New(), path)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	rotated := make(chan rotate.Event, 1)
	c.OnRotate(func(e rotate.Event) { rotated <- e })

	// An operator rotates the key: the file is replaced atomically.
	os.WriteFile(path+".new", []byte("sk-proj-FAKE1111111111111111111111111111"), 0o600)
	os.Rename(path+".new", path)

	e := <-rotated // pushed by fsnotify, within milliseconds
	s, _ := c.Get(ctx)
	fmt.Println(e.Kind, e.Name, s, s.Fingerprint() == e.NewFingerprint)
	prev, ok := c.Previous()
	fmt.Println("previous kept for the overlap:", ok, prev.Secret)
	// Output:
	// rotated openai [REDACTED] true
	// previous kept for the overlap: true [REDACTED]
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "rotate-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "keys.json"), []byte(`{"openai":"sk-proj-FAKE0000000000000000000000000000","pinecone":"pcsk_FAKE_0000000000000000000000000000"}`), 0o600)

	ctx := context.Background()
	set, err := rotate.Open(ctx, provider.NewURLMux(), []rotate.Config{
		{Name: "openai", URL: "file://" + dir + "/keys.json#openai", Metadata: credential.Metadata{
			Owner: "ml-team", Purpose: "support bot", Environment: "production", System: "api.openai.com", RotationPeriod: 90 * 24 * time.Hour}},
		{Name: "pinecone", URL: "file://" + dir + "/keys.json#pinecone", Metadata: credential.Metadata{
			Owner: "search-team", Environment: "production"}},
	}, rotate.WithEnvironment("production"))
	if err != nil {
		panic(err)
	}
	defer set.Close()

	for _, it := range set.Inventory().Credentials {
		fmt.Printf("%s backend=%s owner=%s freshness=%s findings=%v\n", it.Name, it.Backend, it.Metadata.Owner, it.Status.Freshness, it.Findings)
	}

	// The kill switch.
	set.Revoke("pinecone", "key posted in a support ticket")
	_, err = set.Get(ctx, "pinecone")
	fmt.Println(errors.Is(err, credential.ErrRevoked))
	// Output:
	// openai backend=file owner=ml-team freshness=fresh findings=[]
	// pinecone backend=file owner=search-team freshness=fresh findings=[no purpose no system no rotation period]
	// true
}

func ExampleSet_Inventory() {
	dir, _ := os.MkdirTemp("", "rotate-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "a"), []byte("sk-proj-FAKE0000000000000000000000000000"), 0o600)
	os.WriteFile(filepath.Join(dir, "b"), []byte("sk-proj-FAKE0000000000000000000000000000"), 0o600)

	set, err := rotate.Open(context.Background(), provider.NewURLMux(), []rotate.Config{
		{Name: "chat", URL: "file://" + dir + "/a"},
		{Name: "batch", URL: "file://" + dir + "/b"},
	})
	if err != nil {
		panic(err)
	}
	defer set.Close()
	inv := set.Inventory()
	b, _ := json.Marshal(inv.Credentials[0].SharedWith)
	fmt.Println(inv.Credentials[0].Name, "shares its key with", string(b))
	// Output: batch shares its key with ["chat"]
}

// With push healthy (fsnotify watching the file's folder), a credential
// polls only at the safety interval; Status says so.
func ExampleWithSafetyInterval() {
	dir, _ := os.MkdirTemp("", "rotate-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "openai")
	os.WriteFile(path, []byte("sk-proj-FAKE0000000000000000000000000000"), 0o600)

	c, err := rotate.Watch(context.Background(), "openai", file.New(), path,
		rotate.WithInterval(time.Minute, 0.1), rotate.WithSafetyInterval(30*time.Minute))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	st := c.Status()
	fmt.Println(st.Mode, st.PollInterval)
	// Output:
	// push 30m0s
}
