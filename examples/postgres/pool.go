package main

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/rotate"
)

// fpKey is where a connection remembers the fingerprint of the password it
// authenticated with (never the password itself).
const fpKey = "credkit.password_fingerprint"

// PoolConfig configures [NewPool].
type PoolConfig struct {
	// DSN is a libpq URL or key=value string without a password.
	DSN string
	// Password is the credential the connections authenticate with.
	Password *rotate.Credential
	// Overlap bounds the life of every connection (MaxConnLifetime): a
	// connection left idle with an old password is closed by then. Use the
	// rotate overlap window. Zero keeps pgxpool's default (one hour).
	Overlap time.Duration
	// OnRecycle, when set, is called each time a connection is closed
	// because its password was rotated.
	OnRecycle func()
}

// NewPool returns a pgxpool whose connections authenticate with the current
// value of c.Password, a credential kept current by rotate:
//
//   - every new connection reads the password at connect time
//     (BeforeConnect), so it always uses the current one;
//   - a connection opened with a password that has since been rotated is
//     closed instead of going back into use: idle ones when the rotation is
//     seen, busy ones when they are released, so old sessions are recycled
//     at once; MaxConnLifetime (the overlap window) is the backstop;
//   - the DSN holds no password, so none can leak from it.
func NewPool(ctx context.Context, c PoolConfig) (*Pool, error) {
	cfg, err := poolConfig(c)
	if err != nil {
		return nil, err
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return sweeping(p, c.Password), nil
}

// Pool is a pgxpool.Pool that also closes its idle connections on an old
// password as soon as a rotation is seen. Close it to stop that.
type Pool struct {
	*pgxpool.Pool
	stop func()
}

// sweeping subscribes p to password's rotations: each one takes the idle
// connections out and puts them back, and AfterRelease closes those that
// authenticated with the old value.
func sweeping(p *pgxpool.Pool, password *rotate.Credential) *Pool {
	stop := password.OnRotate(func(rotate.Event) {
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
	if c.Password == nil {
		return nil, errors.New("postgres: PoolConfig.Password is nil")
	}
	password, overlap := c.Password, c.Overlap
	cfg, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		// pgx's parse errors quote the DSN with its password masked; ours
		// has none anyway.
		return nil, err
	}
	if overlap > 0 {
		cfg.MaxConnLifetime = overlap
		cfg.MaxConnLifetimeJitter = overlap / 10
	}
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		s, err := password.Get(ctx)
		if err != nil {
			return err
		}
		cc.Password = s.Reveal()
		return nil
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		c.PgConn().CustomData()[fpKey] = credential.NewSecret(c.Config().Password).Fingerprint()
		return nil
	}
	current := func(conn *pgx.Conn) bool {
		s, err := password.Get(context.Background())
		if err == nil && conn.PgConn().CustomData()[fpKey] == s.Fingerprint() {
			return true
		}
		if c.OnRecycle != nil {
			c.OnRecycle()
		}
		return false
	}
	cfg.PrepareConn = func(_ context.Context, c *pgx.Conn) (bool, error) { return current(c), nil }
	cfg.AfterRelease = current
	return cfg, nil
}

// AuthFailed reports whether err is PostgreSQL refusing the password
// (SQLSTATE 28P01 invalid_password, or 28000).
func AuthFailed(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000")
}

// WithRetryOnRotation runs f, and when it fails because the server refused
// the password — the role's password was changed and the secret store has
// not delivered the new one yet — refreshes the credential and runs f again,
// waiting for the new value to arrive for at most wait in all. This is the
// database form of credential.Transport's 401 → refresh → retry. It returns
// the number of authentication failures it absorbed.
func WithRetryOnRotation(ctx context.Context, password *rotate.Credential, wait time.Duration, f func(context.Context) error) (absorbed int, err error) {
	deadline := time.Now().Add(wait)
	backoff := 5 * time.Millisecond
	for {
		err = f(ctx)
		if err == nil || !AuthFailed(err) || time.Now().After(deadline) {
			return absorbed, err
		}
		absorbed++
		changed, rerr := password.Refresh(ctx)
		if rerr != nil && ctx.Err() != nil {
			return absorbed, err
		}
		if changed {
			continue
		}
		// The store still holds the old value: wait for the rotation to be
		// pushed (or the next refresh), a little longer each time.
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
