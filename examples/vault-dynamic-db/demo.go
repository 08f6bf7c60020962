package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/pgserver"
	"github.com/credkit/credkit/internal/vaultfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/vault"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

// DemoConfig configures [Demo].
type DemoConfig struct {
	Workers int // concurrent query loops; 8 when zero
	// Cycles is how many max-TTL cycles of the lease run: the lease is
	// replaced Cycles times and each replaced lease expires. 3 when zero.
	Cycles int
	// TTL and MaxTTL are the database role's default_ttl and max_ttl; 1h
	// and 3h10m when zero.
	TTL, MaxTTL time.Duration
	// QueriesPerStep is how many queries each worker completes after each
	// step of the fake clock before the next step; 2 when zero.
	QueriesPerStep int64
	Out            io.Writer // the summary; nil prints nothing
}

// Stats is what [Demo] measured.
type Stats struct {
	Queries     int64 // queries that succeeded
	Failed      int64 // queries that failed after retries: must be 0
	AuthRetries int64 // login refusals absorbed by WithRetryOnRotation
	WrongUser   int64 // queries whose current_user is not the username of a lease the pool was given: must be 0

	Steps    int           // steps of the fake clock
	FakeTime time.Duration // fake time the run covered

	Leases       int   // leases Vault issued
	Renewals     int64 // lease renewals the provider asked Vault for
	Replacements int64 // leases replaced before their max TTL (new secrets read after the first)
	MixedPairs   int64 // username/password pairs of two leases set aside at connect: never used

	NewConns       int64 // connections opened
	ConnsChecked   int64 // new connections whose current_user was checked against their lease
	ConnsWrong     int64 // new connections whose user is not their password's lease's, or whose lease was not valid: must be 0
	Recycled       int64 // connections closed because their lease was replaced
	RolesCreated   int   // database roles the engine created (one per lease)
	RolesRenewed   int   // VALID UNTIL extensions (one per renewal)
	RolesDropped   int   // roles dropped when their lease expired
	SessionsAtDrop int   // sessions still open when their lease expired: must be 0
	ExpiredLeft    int   // roles of ended leases still in pg_roles at the end: must be 0
	UsersSeen      int   // distinct current_user values the queries saw

	ServerLogLines int // lines the server logged (every statement and connection)
	CreateLogged   int // CREATE ROLE statements in the server's log
	LeaksServerLog int // passwords found in the server's log: must be 0
	LeaksService   int // passwords found in the service's log: must be 0
	ServiceLog     []byte
}

// Check returns an error naming what went wrong, if anything did.
func (s Stats) Check(cycles int) error {
	var errs []error
	if s.Failed != 0 {
		errs = append(errs, fmt.Errorf("%d queries failed", s.Failed))
	}
	if s.WrongUser != 0 || s.ConnsWrong != 0 {
		errs = append(errs, fmt.Errorf("ran as a user not of its lease: %d queries, %d connections", s.WrongUser, s.ConnsWrong))
	}
	if s.Replacements != int64(cycles) || s.Leases != cycles+1 || s.RolesCreated != s.Leases {
		errs = append(errs, fmt.Errorf("%d replacements, %d leases, %d roles created for %d cycles", s.Replacements, s.Leases, s.RolesCreated, cycles))
	}
	if s.RolesDropped != cycles {
		errs = append(errs, fmt.Errorf("%d roles dropped at the end of their lease, want %d", s.RolesDropped, cycles))
	}
	if s.SessionsAtDrop != 0 {
		errs = append(errs, fmt.Errorf("%d sessions were still open when their lease ended", s.SessionsAtDrop))
	}
	if s.ExpiredLeft != 0 {
		errs = append(errs, fmt.Errorf("%d roles of ended leases are still in the database", s.ExpiredLeft))
	}
	if s.UsersSeen != cycles+1 {
		errs = append(errs, fmt.Errorf("queries ran as %d users, want one per lease (%d)", s.UsersSeen, cycles+1))
	}
	if s.CreateLogged < s.RolesCreated {
		errs = append(errs, fmt.Errorf("server log shows %d CREATE ROLE statements for %d roles: statement logging was off, the log check proves nothing", s.CreateLogged, s.RolesCreated))
	}
	if s.LeaksServerLog != 0 || s.LeaksService != 0 {
		errs = append(errs, fmt.Errorf("a password appeared in a log: server %d, service %d", s.LeaksServerLog, s.LeaksService))
	}
	return errors.Join(errs...)
}

// Demo starts a throwaway PostgreSQL server (every statement and
// connection logged) and the fake Vault with a database role whose plugin
// creates, renews and drops real roles in it; watches the role's username
// and password through provider/vault as two rotate credentials; and runs
// workers querying through a pool built by [NewPool] while a fake clock
// takes the lease through c.Cycles max-TTL cycles: renewed, replaced before
// its max TTL, the old one expired and its role dropped.
func Demo(ctx context.Context, c DemoConfig) (st Stats, err error) {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Cycles <= 0 {
		c.Cycles = 3
	}
	if c.TTL <= 0 {
		c.TTL = time.Hour
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = 190 * time.Minute
	}
	if c.QueriesPerStep <= 0 {
		c.QueriesPerStep = 2
	}
	srv, err := pgserver.Start(ctx, &pgserver.Options{Settings: map[string]string{
		"log_statement": "all", "log_connections": "on", "log_disconnections": "on",
	}})
	if err != nil {
		return st, err
	}
	defer srv.Stop()
	admin, err := pgx.Connect(ctx, srv.AdminDSN(""))
	if err != nil {
		return st, err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE TABLE documents (id int PRIMARY KEY, title text); INSERT INTO documents SELECT i, 'doc ' || i FROM generate_series(1, 100) i"); err != nil {
		return st, err
	}
	pluginConn, err := pgx.Connect(ctx, srv.AdminDSN(""))
	if err != nil {
		return st, err
	}
	defer pluginConn.Close(context.Background())
	plugin := newPGPlugin(pluginConn)

	// Vault: the database engine's role, on a fake clock. The clock starts
	// now, so VALID UNTIL (fake time) is never in the server's past.
	start := time.Now().UTC().Truncate(time.Second)
	clk := fakeclock.New(start)
	fake := vaultfake.New(clk)
	defer fake.Close()
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: c.TTL, MaxTTL: c.MaxTTL, Plugin: plugin})
	printf(c.Out, "PostgreSQL on %s; Vault role readonly (TTL %v, max TTL %v); %d workers, %d max-TTL cycles\n",
		srv.Addr(), c.TTL, c.MaxTTL, c.Workers, c.Cycles)

	// The service: a redacting logger, the provider, the two credentials,
	// the pool.
	var logBuf syncBuffer
	r := redact.New()
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(&logBuf, nil), r))
	// The same wiring as against a real Vault (see serve), with the fake's
	// client and clock.
	mux := provider.NewURLMux()
	vo := vault.NewOpener(vault.WithClient(fake.Client(fake.RootToken())),
		vault.WithProviderOptions(vault.WithClock(clk), vault.WithLogger(logger)))
	defer vo.Close()
	if err := mux.Register("vault", vo); err != nil {
		return st, err
	}
	set, err := rotate.Open(ctx, mux, []rotate.Config{
		{Name: "db-user", URL: "vault://database/creds/readonly#username"},
		{Name: "db-password", URL: "vault://database/creds/readonly#password"},
	}, rotate.WithClock(clk), rotate.WithLogger(logger),
		rotate.WithInterval(5*time.Minute, 0), rotate.WithRefreshAhead(0.95, time.Minute))
	if err != nil {
		return st, err
	}
	defer set.Close()
	defer r.Track(set)()
	user, err := set.Credential("db-user")
	if err != nil {
		return st, err
	}
	pass, err := set.Credential("db-password")
	if err != nil {
		return st, err
	}
	defer pass.OnRotate(func(e rotate.Event) {
		logger.Info("database login rotated", "credential", e.Name, "old", e.OldFingerprint, "new", e.NewFingerprint)
	})()
	login := Login{User: user, Password: pass}

	// leaseOfPassword maps a password's fingerprint to its lease as Vault
	// issued it, to check each new connection's user against it.
	leaseOf := func(password string) (vaultfake.LeaseInfo, bool) {
		for _, l := range fake.Leases() {
			if l.Password == password {
				return l, true
			}
		}
		return vaultfake.LeaseInfo{}, false
	}
	var recycled, mixed, checked, wrongConn atomic.Int64
	pcfg, err := poolConfig(PoolConfig{
		DSN:   fmt.Sprintf("host=127.0.0.1 port=%d dbname=postgres sslmode=disable", srv.Port),
		Login: login, OnRecycle: func() { recycled.Add(1) }, OnMixed: func(n int) { mixed.Add(int64(n)) },
	})
	if err != nil {
		return st, err
	}
	afterConnect := pcfg.AfterConnect
	pcfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if err := afterConnect(ctx, conn); err != nil {
			return err
		}
		var cu string
		if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&cu); err != nil {
			return err
		}
		checked.Add(1)
		l, ok := leaseOf(conn.Config().Password)
		if !ok || l.Username != cu || !fake.LeaseValid(l.ID) {
			wrongConn.Add(1)
			logger.Error("connection not of one valid lease", "user", cu, "lease_found", ok)
		}
		return nil
	}
	pp, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return st, err
	}
	pool := sweeping(pp, login)
	defer pool.Close()

	// The users of the leases handed to the pool, to check each query's
	// current_user against.
	var usersMu sync.Mutex
	users := map[string]int64{}
	known := func(u string) bool {
		for _, l := range fake.Leases() {
			if l.Username == u {
				return true
			}
		}
		return false
	}

	// The workers.
	var queries, failed, retries, wrongUser atomic.Int64
	done := make([]atomic.Int64, c.Workers)
	progress := make(chan struct{}, 1)
	var stopping atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < c.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() && ctx.Err() == nil {
				var cu string
				var n int
				a, err := WithRetryOnRotation(ctx, login, 10*time.Second, func(ctx context.Context) error {
					return pool.QueryRow(ctx, "SELECT current_user, count(*) FROM documents").Scan(&cu, &n)
				})
				retries.Add(int64(a))
				switch {
				case err == nil:
					queries.Add(1)
					usersMu.Lock()
					first := users[cu] == 0
					users[cu]++
					usersMu.Unlock()
					if first && !known(cu) {
						wrongUser.Add(1)
					}
				case ctx.Err() != nil:
					return
				default:
					failed.Add(1)
					logger.Error("query failed", "err", err)
				}
				done[w].Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	stopAll := func() { stopping.Store(true); wg.Wait() }
	defer stopAll()
	// waitWorkers waits until every worker has completed n more queries:
	// every connection busy at the last step has been released since.
	waitWorkers := func(n int64) error {
		target := make([]int64, len(done))
		for i := range done {
			target[i] = done[i].Load() + n
		}
		for {
			ok := true
			for i := range done {
				if done[i].Load() < target[i] {
					ok = false
				}
			}
			if ok {
				return nil
			}
			select {
			case <-progress:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}

	// The fake clock: step to each next timer (the provider's lease keeper
	// and the two credentials' checks), let Vault expire what is due, let
	// the workers query.
	const timers = 3
	waitTimers := func() error {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if !clk.WaitTimers(wctx, timers) {
			return fmt.Errorf("the provider and credentials did not re-arm their timers (%d armed, want %d)", clk.Timers(), timers)
		}
		return nil
	}
	if err := waitTimers(); err != nil {
		return st, err
	}
	if err := waitWorkers(c.QueriesPerStep); err != nil {
		return st, err
	}
	limit := time.Duration(c.Cycles+2) * c.MaxTTL
	for len(fake.Leases()) < c.Cycles+1 || plugin.stats().dropped < c.Cycles {
		if clk.Now().Sub(start) > limit {
			return st, fmt.Errorf("%d cycles not done in %v of fake time", c.Cycles, limit)
		}
		clk.AdvanceToNext()
		if err := waitTimers(); err != nil {
			return st, err
		}
		if _, err := fake.Expire(); err != nil {
			return st, fmt.Errorf("expiring leases: %w", err)
		}
		st.Steps++
		if err := waitWorkers(c.QueriesPerStep); err != nil {
			return st, err
		}
	}
	st.FakeTime = clk.Now().Sub(start)
	stopAll()

	// What the database holds now: only the current lease's role.
	leases := fake.Leases()
	var ended []string
	var passwords []string
	for _, l := range leases {
		passwords = append(passwords, l.Password)
		if !fake.LeaseValid(l.ID) {
			ended = append(ended, l.Username)
		}
	}
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)", ended).Scan(&st.ExpiredLeft); err != nil {
		return st, err
	}
	ps := plugin.stats()
	st.Queries, st.Failed, st.AuthRetries, st.WrongUser = queries.Load(), failed.Load(), retries.Load(), wrongUser.Load()
	st.Leases, st.Renewals, st.Replacements, st.MixedPairs = len(leases), int64(fake.Calls("PUT sys/leases/renew")), int64(len(leases)-1), mixed.Load()
	st.NewConns, st.ConnsChecked, st.ConnsWrong, st.Recycled = pool.Stat().NewConnsCount(), checked.Load(), wrongConn.Load(), recycled.Load()
	st.RolesCreated, st.RolesRenewed, st.RolesDropped, st.SessionsAtDrop = ps.created, ps.renewed, ps.dropped, ps.sessionsAtDrop
	usersMu.Lock()
	st.UsersSeen = len(users)
	usersMu.Unlock()

	serverLog, err := srv.Log()
	if err != nil {
		return st, err
	}
	st.ServerLogLines = bytes.Count(serverLog, []byte("\n"))
	st.CreateLogged = bytes.Count(serverLog, []byte("statement: CREATE ROLE"))
	st.ServiceLog = logBuf.Bytes()
	for _, pw := range passwords {
		if bytes.Contains(serverLog, []byte(pw)) {
			st.LeaksServerLog++
		}
		if bytes.Contains(st.ServiceLog, []byte(pw)) {
			st.LeaksService++
		}
	}
	printf(c.Out, "queries %d, failed %d, login refusals absorbed %d, queries as a user of no lease %d\n", st.Queries, st.Failed, st.AuthRetries, st.WrongUser)
	printf(c.Out, "%d max-TTL cycles in %v of fake time, %d steps: leases %d, renewals %d, replacements %d; mixed pairs set aside %d\n",
		c.Cycles, st.FakeTime, st.Steps, st.Leases, st.Renewals, st.Replacements, st.MixedPairs)
	printf(c.Out, "connections opened %d (checked %d, not of their lease %d), recycled after a replacement %d; users seen by queries %d\n",
		st.NewConns, st.ConnsChecked, st.ConnsWrong, st.Recycled, st.UsersSeen)
	printf(c.Out, "roles created %d, VALID UNTIL extended %d, dropped at lease end %d (sessions still open then %d), ended leases' roles left %d\n",
		st.RolesCreated, st.RolesRenewed, st.RolesDropped, st.SessionsAtDrop, st.ExpiredLeft)
	printf(c.Out, "server log: %d lines, %d CREATE ROLE statements, %d passwords; service log: %d passwords\n",
		st.ServerLogLines, st.CreateLogged, st.LeaksServerLog, st.LeaksService)
	return st, nil
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
