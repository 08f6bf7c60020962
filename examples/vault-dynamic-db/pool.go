package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/vault"
	"github.com/credkit/credkit/rotate"
)

// fpKey is where a connection remembers the fingerprint of the password it
// authenticated with (never the password itself). A dynamic password is
// unique to its lease, so the fingerprint names the lease too.
const fpKey = "credkit.password_fingerprint"

// Login is the username and password of one Vault lease: the two fields of
// database/creds/ROLE, watched as two rotate credentials.
type Login struct {
	User, Password *rotate.Credential
}

// Current returns the username and password of the current lease, both
// from the same one. At the moment the provider switches to a new lease
// the two credentials move one after the other; a reader in between could
// pair the new username with the old password. Current compares the lease
// of both versions (vault.LeaseOf) and, when they differ, refreshes both
// from the provider's shared lease and looks again. It returns the lease
// ID with the pair, and how many mixed pairs it saw.
func (l Login) Current(ctx context.Context) (user, password credential.Secret, lease string, mixed int, err error) {
	for try := 0; ; try++ {
		// Get first: it refuses a value past its expiry or revoked.
		if _, err = l.User.Get(ctx); err != nil {
			return
		}
		if _, err = l.Password.Get(ctx); err != nil {
			return
		}
		uv, ok1 := l.User.Version()
		pv, ok2 := l.Password.Version()
		if ok1 && ok2 && vault.LeaseOf(uv.ID) == vault.LeaseOf(pv.ID) {
			return uv.Secret, pv.Secret, vault.LeaseOf(pv.ID), mixed, nil
		}
		mixed++
		if try == 10 {
			return user, password, "", mixed, fmt.Errorf("username and password of different leases after %d tries: %w", try+1, credential.ErrUnavailable)
		}
		if _, err = l.User.Refresh(ctx); err != nil {
			return
		}
		if _, err = l.Password.Refresh(ctx); err != nil {
			return
		}
	}
}

// PoolConfig configures [NewPool].
type PoolConfig struct {
	// DSN is a libpq URL or key=value string without a user or password.
	DSN string
	// Login is the leased username and password.
	Login Login
	// MaxConnLifetime bounds the life of every connection, a backstop to
	// the recycling on rotation: keep it under the time the old lease has
	// left at a switch (a third of what was left before the max TTL).
	// Zero keeps pgxpool's default (one hour).
	MaxConnLifetime time.Duration
	// OnRecycle, when set, is called each time a connection is closed
	// because its lease was replaced.
	OnRecycle func()
	// OnMixed, when set, is told how many mixed pairs (username of one
	// lease, password of another) Login.Current saw and set aside.
	OnMixed func(int)
}

// NewPool returns a pgxpool whose connections authenticate with the
// username and password of the current Vault lease:
//
//   - every new connection reads both at connect time (BeforeConnect),
//     always from one lease;
//   - a connection opened under a lease that has since been replaced is
//     closed instead of going back into use: idle ones when the
//     replacement is pushed, busy ones when they are released; a renewal
//     (same username and password, later expiry) keeps them;
//   - the DSN holds no user or password, so none can leak from it.
func NewPool(ctx context.Context, c PoolConfig) (*Pool, error) {
	cfg, err := poolConfig(c)
	if err != nil {
		return nil, err
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return sweeping(p, c.Login), nil
}

// Pool is a pgxpool.Pool that also closes its idle connections of a
// replaced lease as soon as the replacement is pushed. Close it to stop
// that.
type Pool struct {
	*pgxpool.Pool
	stop func()
}

// sweeping subscribes p to the password's rotations (a new lease always
// has a new password): each one takes the idle connections out and puts
// them back, and AfterRelease closes those of the old lease.
func sweeping(p *pgxpool.Pool, l Login) *Pool {
	stop := l.Password.OnRotate(func(rotate.Event) {
		for _, c := range p.AcquireAllIdle(context.Background()) {
			c.Release()
		}
	})
	return &Pool{Pool: p, stop: stop}
}

// Close stops following rotations and closes the pool.
func (p *Pool) Close() {
	p.stop()
	p.Pool.Close()
}

func poolConfig(c PoolConfig) (*pgxpool.Config, error) {
	if c.Login.User == nil || c.Login.Password == nil {
		return nil, errors.New("vault-dynamic-db: PoolConfig.Login needs both credentials")
	}
	login := c.Login
	cfg, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		return nil, err
	}
	if c.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = c.MaxConnLifetime
		cfg.MaxConnLifetimeJitter = c.MaxConnLifetime / 10
	}
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		u, p, _, mixed, err := login.Current(ctx)
		if mixed > 0 && c.OnMixed != nil {
			c.OnMixed(mixed)
		}
		if err != nil {
			return err
		}
		cc.User, cc.Password = u.Reveal(), p.Reveal()
		return nil
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		conn.PgConn().CustomData()[fpKey] = credential.NewSecret(conn.Config().Password).Fingerprint()
		return nil
	}
	current := func(conn *pgx.Conn) bool {
		s, err := login.Password.Get(context.Background())
		if err == nil && conn.PgConn().CustomData()[fpKey] == s.Fingerprint() {
			return true
		}
		if c.OnRecycle != nil {
			c.OnRecycle()
		}
		return false
	}
	cfg.PrepareConn = func(_ context.Context, conn *pgx.Conn) (bool, error) { return current(conn), nil }
	cfg.AfterRelease = current
	return cfg, nil
}

// AuthFailed reports whether err is PostgreSQL refusing the login
// (SQLSTATE 28P01 invalid_password, or 28000): the user of the lease is
// not (or no longer) in the database.
func AuthFailed(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000")
}

// WithRetryOnRotation runs f, and when it fails because the server refused
// the login, refreshes both credentials (a new lease the pool has not been
// told of yet) and runs f again, for at most wait in all. It returns the
// number of refusals it absorbed. A lease revoked behind the provider's
// back is only replaced when its next renewal is refused: until then the
// refresh brings nothing new and f fails after wait.
func WithRetryOnRotation(ctx context.Context, l Login, wait time.Duration, f func(context.Context) error) (absorbed int, err error) {
	deadline := time.Now().Add(wait)
	backoff := 5 * time.Millisecond
	for {
		err = f(ctx)
		if err == nil || !AuthFailed(err) || time.Now().After(deadline) {
			return absorbed, err
		}
		absorbed++
		changedU, _ := l.User.Refresh(ctx)
		changedP, rerr := l.Password.Refresh(ctx)
		if rerr != nil && ctx.Err() != nil {
			return absorbed, err
		}
		if changedU || changedP {
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return absorbed, err
		case <-t.C:
		}
		if backoff < 200*time.Millisecond {
			backoff *= 2
		}
	}
}
