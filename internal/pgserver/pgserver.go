package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configures [Start]. The zero value (or nil) starts a server with
// the defaults.
type Options struct {
	// Settings are extra server settings, passed as -c name=value: for
	// example {"log_statement": "all"} to log every statement.
	Settings map[string]string
	// StartTimeout bounds how long Start waits for the server to accept
	// connections. Zero means 60 seconds.
	StartTimeout time.Duration
}

// Server is a running throwaway PostgreSQL server. Stop it when done.
type Server struct {
	// Port is the loopback TCP port the server listens on.
	Port int
	// SocketDir is the folder of the server's private Unix socket.
	SocketDir string
	// LogPath is the file that receives the server's log (its stderr).
	LogPath string

	dir     string
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	stop    sync.Once
	stopErr error
}

// ErrNoPostgres is returned by [Start] and [BinDir] when no PostgreSQL
// server binaries are installed.
var ErrNoPostgres = errors.New("pgserver: no PostgreSQL server binaries found (install Debian's postgresql package, or set PG_BINDIR)")

// BinDir returns the folder holding initdb and postgres: $PG_BINDIR, else
// `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	ok := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres", "pg_isready"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("PG_BINDIR"); d != "" {
		if ok(d) {
			return d, nil
		}
		return "", fmt.Errorf("%w: PG_BINDIR=%s has no initdb and postgres", ErrNoPostgres, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); ok(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises a new cluster in a temporary folder and starts a
// server on a free loopback port. The cluster's superuser is "postgres",
// reachable without a password only through [Server.AdminDSN]'s private
// socket; every TCP connection authenticates with scram-sha-256.
func Start(ctx context.Context, opts *Options) (*Server, error) {
	if opts == nil {
		opts = &Options{}
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "credkit-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, SocketDir: filepath.Join(dir, "sock"), LogPath: filepath.Join(dir, "postgres.log"), exited: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Mkdir(s.SocketDir, 0o700); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := chownAll(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = env()
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgserver: initdb: %v: %s", err, lastLines(out, 5)))
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		if lastErr = s.start(ctx, bin, data, port, opts.Settings, cred, timeout); lastErr == nil {
			return s, nil
		}
	}
	return fail(lastErr)
}

func (s *Server) start(ctx context.Context, bin, data string, port int, settings map[string]string, cred *syscall.Credential, timeout time.Duration) error {
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", s.SocketDir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=100", "-c", "logging_collector=off"}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Env = env()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("pgserver: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	sock := filepath.Join(s.SocketDir, ".s.PGSQL."+strconv.Itoa(port))
	for {
		// Listening is not ready: until recovery ends the server answers
		// "the database system is starting up". pg_isready asks it.
		if _, err := os.Stat(sock); err == nil {
			ready := exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "-t", "1")
			ready.Env = env()
			if ready.Run() == nil {
				s.Port, s.cmd, s.logFile, s.exited = port, cmd, logFile, exited
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-exited:
			logFile.Close()
			out, _ := os.ReadFile(s.LogPath)
			return fmt.Errorf("pgserver: postgres exited at start: %s", lastLines(out, 5))
		case <-deadline.C:
			cmd.Process.Kill()
			<-exited
			logFile.Close()
			return fmt.Errorf("pgserver: postgres did not accept connections within %v", timeout)
		case <-ctx.Done():
			cmd.Process.Kill()
			<-exited
			logFile.Close()
			return ctx.Err()
		}
	}
}

// AdminDSN returns a libpq key=value connection string for the superuser
// over the private Unix socket, to database db ("postgres" when empty).
func (s *Server) AdminDSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.SocketDir, s.Port, db)
}

// Addr returns the server's loopback TCP address, host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Log returns what the server has logged so far.
func (s *Server) Log() ([]byte, error) { return os.ReadFile(s.LogPath) }

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// removes its folder. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		defer os.RemoveAll(s.dir)
		if s.cmd == nil {
			return
		}
		s.cmd.Process.Signal(syscall.SIGINT)
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		select {
		case <-s.exited:
		case <-t.C:
			s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = errors.New("pgserver: postgres did not stop within 30s; killed")
		}
		s.logFile.Close()
	})
	return s.stopErr
}

// runAs returns the credential to run PostgreSQL with: nil when this
// process is not root, else the "postgres" user's.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgserver: running as root needs a \"postgres\" user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownAll(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// env is this process's environment without libpq's PG* variables, which
// would otherwise steer initdb and the server.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			out = append(out, kv)
		}
	}
	return append(out, "LC_ALL=C")
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
