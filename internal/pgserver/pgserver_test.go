package pgserver_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/credkit/credkit/internal/pgserver"
)

func TestStartServesAndStopCleansUp(t *testing.T) {
	s, err := pgserver.Start(context.Background(), &pgserver.Options{Settings: map[string]string{"log_connections": "on"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatalf("server not listening on %s: %v", s.Addr(), err)
	}
	c.Close()
	if !strings.Contains(s.AdminDSN(""), "host="+s.SocketDir) {
		t.Errorf("AdminDSN %q does not use the private socket", s.AdminDSN(""))
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(s.SocketDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left the server's folder behind: %v", err)
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Errorf("server still listening on %s after Stop", s.Addr())
	}
}

func TestBinDirHonoursPGBINDIR(t *testing.T) {
	t.Setenv("PG_BINDIR", t.TempDir())
	if _, err := pgserver.BinDir(); !errors.Is(err, pgserver.ErrNoPostgres) {
		t.Fatalf("BinDir with an empty PG_BINDIR: %v, want ErrNoPostgres", err)
	}
}
