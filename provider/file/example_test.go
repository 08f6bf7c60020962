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
