package file_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/credkit/credkit/provider/file"
)

// The stat check against a full read: what a poll of an unchanged file costs
// with and without VersionChecker.
func BenchmarkFile(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "openai")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	env := filepath.Join(dir, ".env")
	if err := os.WriteFile(env, []byte("# keys\nexport A=1\nOPENAI_API_KEY=\""+key+"\"\nB='x'\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	p := file.New()
	ctx := context.Background()
	b.Run("Fetch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Fetch(ctx, path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FetchDotenv", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Fetch(ctx, env+"#OPENAI_API_KEY"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CurrentVersion", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.CurrentVersion(ctx, path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
