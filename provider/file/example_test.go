package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/file"
)

func Example() {
	dir, _ := os.MkdirTemp("", "credkit-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "openai"), []byte("sk-proj-FAKE0000000000000000000000000000\n"), 0o600)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("# local keys\nexport ANTHROPIC_API_KEY='sk-ant-api03-FAKEFAKEFAKE-FAKEAA'\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "shared"), []byte("sk-proj-FAKE1111111111111111111111111111"), 0o644)

	p := file.New(file.WithRoot(dir))
	ctx := context.Background()
	v, _ := p.Fetch(ctx, "openai")
	fmt.Println("openai:", v.Secret, len(v.ID) > 0)
	v, _ = p.Fetch(ctx, ".env#ANTHROPIC_API_KEY")
	fmt.Println("anthropic:", v.Secret)

	_, err := p.Fetch(ctx, "shared")
	fmt.Println(errors.Is(err, credential.ErrInvalid))
	_, err = p.Fetch(ctx, "../etc/passwd")
	fmt.Println(errors.Is(err, credential.ErrPermission) || errors.Is(err, credential.ErrNotFound))
	// Output:
	// openai: [REDACTED] true
	// anthropic: [REDACTED]
	// true
	// true
}

// A Kubernetes secret volume with defaultMode: 0440 and an fsGroup is
// group-readable: allowed with its own option; world-readable stays refused.
func ExampleWithGroupReadable() {
	dir, _ := os.MkdirTemp("", "credkit-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "api-key")
	_ = os.WriteFile(path, []byte("sk-FAKE-group-readable\n"), 0o440)
	_ = os.Chmod(path, 0o440)

	_, err := file.New().Fetch(context.Background(), path)
	fmt.Println(errors.Is(err, credential.ErrInvalid))
	v, err := file.New(file.WithGroupReadable()).Fetch(context.Background(), path)
	fmt.Println(err == nil, v.Secret.Len())
	// Output:
	// true
	// true 22
}
