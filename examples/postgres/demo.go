package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/pgserver"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

// DemoConfig configures [Demo].
type DemoConfig struct {
	Workers   int           // concurrent query loops; 8 when zero
	Rotations int           // password rotations; 10 when zero
	Overlap   time.Duration // rotate's overlap window and the pool's connection lifetime; 1 minute when zero
	// QueriesBetween is how many queries run between two rotations; 200
	// when zero.
	QueriesBetween int64
	// LaggingStore makes every other rotation reach the secret file only
	// after the server has refused the old password to a new connection
	// (the pool is reset between the two steps), as when a secret store's
	// agent is slower than the database: WithRetryOnRotation must absorb
	// the refusals.
	LaggingStore bool
	Out          io.Writer // the summary; nil prints nothing
}

// Stats is what [Demo] measured.
type Stats struct {
	Queries        int64 // queries that succeeded
	Failed         int64 // queries that failed after retries: must be 0
	AuthRetries    int64 // password refusals absorbed by WithRetryOnRotation
	Rotations      int   // rotations done (ALTER ROLE, then the secret file)
	Seen           int   // rotations credkit delivered to the pool
	NewConns       int64 // connections opened, each with the password current then
	Recycled       int64 // connections closed because their password was rotated
	StaleAtEnd     int   // pool connections still on an old password at the end: must be 0
	ServerSessions int   // the role's sessions on the server at the end
	PoolConns      int   // the pool's live connections at the end
	StraySessions  int   // the role's sessions on the server that the pool does not hold: must be 0
	ServerLogLines int   // lines the server logged (every statement and connection)
	AlterLogged    int   // ALTER ROLE statements in the server's log
	LeaksServerLog int   // passwords found in the server's log: must be 0
	LeaksService   int   // passwords found in the service's log: must be 0
	ServiceLog     []byte
}

// Check returns an error naming what went wrong, if anything did.
func (s Stats) Check() error {
	var errs []error
	if s.Failed != 0 {
		errs = append(errs, fmt.Errorf("%d queries failed", s.Failed))
	}
	if s.Seen != s.Rotations {
		errs = append(errs, fmt.Errorf("credkit delivered %d of %d rotations", s.Seen, s.Rotations))
	}
	if s.StaleAtEnd != 0 {
		errs = append(errs, fmt.Errorf("%d connections still use an old password", s.StaleAtEnd))
	}
	if s.StraySessions != 0 {
		errs = append(errs, fmt.Errorf("server has %d sessions of the role that the pool does not hold (of %d; the pool has %d)", s.StraySessions, s.ServerSessions, s.PoolConns))
	}
	if s.AlterLogged < s.Rotations {
		errs = append(errs, fmt.Errorf("server log shows %d ALTER ROLE statements for %d rotations: statement logging was off, the log check proves nothing", s.AlterLogged, s.Rotations))
	}
	if s.LeaksServerLog != 0 || s.LeaksService != 0 {
		errs = append(errs, fmt.Errorf("a password appeared in a log: server %d, service %d", s.LeaksServerLog, s.LeaksService))
	}
	return errors.Join(errs...)
}

// Demo starts a throwaway PostgreSQL server (every statement and
// connection logged), a role whose password lives in a secret file, a
// rotate.Set watching that file and a pool built by [NewPool]; runs the
// workers' queries and, between batches of them, rotates the password the
// way an operator or a rotation job would: ALTER ROLE with a SCRAM
// verifier, then an atomic rewrite of the secret file.
func Demo(ctx context.Context, c DemoConfig) (st Stats, err error) {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Rotations <= 0 {
		c.Rotations = 10
	}
	if c.Overlap <= 0 {
		c.Overlap = time.Minute
	}
	if c.QueriesBetween <= 0 {
		c.QueriesBetween = 200
	}
	srv, err := pgserver.Start(ctx, &pgserver.Options{Settings: map[string]string{
		"log_statement": "all", "log_connections": "on", "log_disconnections": "on",
	}})
	if err != nil {
		return st, err
	}
	defer srv.Stop()
	printf(c.Out, "PostgreSQL on %s; %d workers, %d rotations\n", srv.Addr(), c.Workers, c.Rotations)

	admin, err := pgx.Connect(ctx, srv.AdminDSN(""))
	if err != nil {
		return st, err
	}
	defer admin.Close(context.Background())

	dir, err := os.MkdirTemp("", "credkit-pg-secret-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)
	secretFile := filepath.Join(dir, "db-password")
	var passwords []string // every password used, to hunt for in the logs
	first, err := newPassword()
	if err != nil {
		return st, err
	}
	passwords = append(passwords, first)
	if err := setPassword(ctx, admin, "app", first, true); err != nil {
		return st, err
	}
	if err := writeSecret(secretFile, first); err != nil {
		return st, err
	}

	// The service: a redacting logger, the Set, the pool.
	var logBuf syncBuffer
	r := redact.New()
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(&logBuf, nil), r))
	set, err := rotate.Open(ctx, provider.NewURLMux(), []rotate.Config{{
		Name: "postgres-app", URL: "file://" + secretFile,
		Metadata: credential.Metadata{Owner: "data-platform@example.com", Purpose: "RAG document store",
			Environment: "development", System: "postgresql", RotationPeriod: 30 * 24 * time.Hour},
	}}, rotate.WithLogger(logger), rotate.WithOverlap(c.Overlap))
	if err != nil {
		return st, err
	}
	defer set.Close()
	defer r.Track(set)()
	cred, err := set.Credential("postgres-app")
	if err != nil {
		return st, err
	}
	rotated := make(chan string, c.Rotations+1)
	defer set.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotated {
			logger.Info("password rotated", "credential", e.Name, "old", e.OldFingerprint, "new", e.NewFingerprint)
			rotated <- e.NewFingerprint
		}
	})()

	var recycled atomic.Int64
	pcfg, err := poolConfig(PoolConfig{
		DSN:      fmt.Sprintf("host=127.0.0.1 port=%d user=app dbname=postgres sslmode=disable", srv.Port),
		Password: cred, Overlap: c.Overlap, OnRecycle: func() { recycled.Add(1) },
	})
	if err != nil {
		return st, err
	}
	// Track the pool's live connections (backend PID → password
	// fingerprint) to compare with the server's sessions at the end.
	var liveMu sync.Mutex
	live := map[uint32]any{}
	afterConnect := pcfg.AfterConnect
	pcfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if err := afterConnect(ctx, conn); err != nil {
			return err
		}
		liveMu.Lock()
		live[conn.PgConn().PID()] = conn.PgConn().CustomData()[fpKey]
		liveMu.Unlock()
		return nil
	}
	pcfg.BeforeClose = func(conn *pgx.Conn) {
		liveMu.Lock()
		delete(live, conn.PgConn().PID())
		liveMu.Unlock()
	}
	pp, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return st, err
	}
	pool := sweeping(pp, cred)
	defer pool.Close()

	// The workers.
	var queries, failed, retries atomic.Int64
	progress := make(chan struct{}, 1)
	refused := make(chan struct{}, 1)
	// Workers stop between queries: a query cancelled mid-flight would
	// leave its connection closing in the background, which is not what
	// this demo measures.
	var stopping atomic.Bool
	wctx := ctx
	var wg sync.WaitGroup
	for w := 0; w < c.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() && wctx.Err() == nil {
				var one int
				n, err := WithRetryOnRotation(wctx, cred, 10*time.Second, func(ctx context.Context) error {
					err := pool.QueryRow(ctx, "SELECT 1").Scan(&one)
					if AuthFailed(err) {
						select {
						case refused <- struct{}{}:
						default:
						}
					}
					return err
				})
				retries.Add(int64(n))
				switch {
				case err == nil:
					queries.Add(1)
				case wctx.Err() != nil:
					return // stopping: the query was cut short by us
				default:
					failed.Add(1)
					logger.Error("query failed", "err", err)
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	waitQueries := func(n int64) error {
		target := queries.Load() + failed.Load() + n
		for queries.Load()+failed.Load() < target {
			select {
			case <-progress:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	stopAll := func() { stopping.Store(true); wg.Wait() }

	// The rotations.
	for i := 0; i < c.Rotations; i++ {
		if err := waitQueries(c.QueriesBetween); err != nil {
			stopAll()
			return st, err
		}
		pw, err := newPassword()
		if err != nil {
			stopAll()
			return st, err
		}
		passwords = append(passwords, pw)
		if err := setPassword(ctx, admin, "app", pw, false); err != nil {
			stopAll()
			return st, err
		}
		if c.LaggingStore && i%2 == 0 {
			select { // drop a stale signal
			case <-refused:
			default:
			}
			pool.Reset() // every connection is new from here: each needs the password
			select {
			case <-refused:
			case <-ctx.Done():
				stopAll()
				return st, ctx.Err()
			}
		}
		if err := writeSecret(secretFile, pw); err != nil {
			stopAll()
			return st, err
		}
		st.Rotations++
		want := credential.NewSecret(pw).Fingerprint()
		timeout := time.NewTimer(30 * time.Second)
	wait:
		for {
			select {
			case fp := <-rotated:
				if fp == want {
					st.Seen++
					break wait
				}
			case <-timeout.C:
				stopAll()
				return st, fmt.Errorf("rotation %d not delivered within 30s", i+1)
			}
		}
		timeout.Stop()
	}
	err = waitQueries(c.QueriesBetween)
	stopAll()
	if err != nil {
		return st, err
	}

	// What the pool and the server hold now.
	cur, _ := cred.Get(ctx)
	liveMu.Lock()
	held := map[uint32]bool{}
	for pid, fp := range live {
		if fp != cur.Fingerprint() {
			st.StaleAtEnd++
		}
		held[pid] = true
	}
	liveMu.Unlock()
	st.PoolConns = len(held)
	// A session the pool closed may take a moment to leave the server:
	// give the backends up to 5 s to exit.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, err := admin.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE usename = 'app'")
		if err != nil {
			return st, err
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return st, err
		}
		st.ServerSessions, st.StraySessions = len(pids), 0
		for _, pid := range pids {
			if !held[uint32(pid)] {
				st.StraySessions++
			}
		}
		if st.StraySessions == 0 || time.Now().After(deadline) {
			break
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, ctx.Err()
		case <-t.C:
		}
	}
	st.Queries, st.Failed, st.AuthRetries = queries.Load(), failed.Load(), retries.Load()
	st.NewConns, st.Recycled = pool.Stat().NewConnsCount(), recycled.Load()

	serverLog, err := srv.Log()
	if err != nil {
		return st, err
	}
	st.ServerLogLines = bytes.Count(serverLog, []byte("\n"))
	st.AlterLogged = bytes.Count(serverLog, []byte("statement: ALTER ROLE"))
	st.ServiceLog = logBuf.Bytes()
	for _, pw := range passwords {
		if bytes.Contains(serverLog, []byte(pw)) {
			st.LeaksServerLog++
		}
		if bytes.Contains(st.ServiceLog, []byte(pw)) {
			st.LeaksService++
		}
	}
	printf(c.Out, "queries %d, failed %d, password refusals absorbed %d\n", st.Queries, st.Failed, st.AuthRetries)
	printf(c.Out, "rotations %d, delivered %d; connections opened %d, recycled after a rotation %d, on an old password at the end %d\n",
		st.Rotations, st.Seen, st.NewConns, st.Recycled, st.StaleAtEnd)
	printf(c.Out, "server log: %d lines, %d ALTER ROLE statements, %d passwords; service log: %d passwords\n",
		st.ServerLogLines, st.AlterLogged, st.LeaksServerLog, st.LeaksService)
	return st, nil
}

// newPassword returns a random password (32 characters of base64url).
func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// setPassword creates or alters role with password, sending only its
// SCRAM verifier to the server.
func setPassword(ctx context.Context, admin *pgx.Conn, role, password string, create bool) error {
	v, err := SCRAMVerifier(password)
	if err != nil {
		return err
	}
	verb := "ALTER ROLE %s PASSWORD '%s'"
	if create {
		verb = "CREATE ROLE %s LOGIN PASSWORD '%s'"
	}
	// The verifier is base64 and '$', ':': nothing to escape.
	_, err = admin.Exec(ctx, fmt.Sprintf(verb, pgx.Identifier{role}.Sanitize(), v))
	return err
}

// writeSecret replaces the secret file atomically (write, then rename), as
// a secret manager's agent or kubelet does.
func writeSecret(path, value string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(value + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
