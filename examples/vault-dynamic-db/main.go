// Command vault-dynamic-db shows a service whose database login comes from
// a Vault database secrets engine: a username and password per lease,
// renewed, replaced before the lease's max TTL, with no failed query. A
// pgxpool takes both from one lease at each new connection and recycles
// the connections of a replaced lease; the old lease's role is dropped
// when it expires, and no password appears in any log.
//
// Offline (the default) it starts a throwaway PostgreSQL server from the
// machine's packages and an in-process fake Vault whose database engine
// creates and drops real roles in it, and runs three max-TTL cycles of the
// lease on a fake clock while 8 workers query:
//
//	go run .
//
// Against a real Vault (VAULT_ADDR, and a token or an auth method from
// the environment, as provider/vault reads them) and a real database (a
// DSN without user or password), it queries once a second as the leased
// user, following every renewal and replacement:
//
//	VAULT_ADDR=https://vault.internal:8200 VAULT_TOKEN=... \
//	DATABASE_URL='postgres://db.internal:5432/app?sslmode=verify-full' \
//	VAULT_DB_ROLE=readonly go run .
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/vault"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

func main() {
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if os.Getenv("VAULT_ADDR") != "" {
		err = serve(ctx, os.Getenv("DATABASE_URL"), os.Getenv("VAULT_DB_MOUNT"), os.Getenv("VAULT_DB_ROLE"))
	} else {
		var st Stats
		st, err = Demo(ctx, DemoConfig{Workers: 8, Cycles: 3, Out: os.Stdout})
		if err == nil {
			err = st.Check(3)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

// serve queries the database once a second until ctx ends, as the user of
// the current lease of MOUNT/creds/ROLE.
func serve(ctx context.Context, dsn, mount, role string) error {
	if dsn == "" || role == "" {
		return errors.New("with VAULT_ADDR, set DATABASE_URL (no user or password in it) and VAULT_DB_ROLE (VAULT_DB_MOUNT defaults to database)")
	}
	if mount == "" {
		mount = "database"
	}
	r := redact.New()
	logger := slog.New(redact.NewHandler(slog.NewTextHandler(os.Stderr, nil), r))
	mux := provider.NewURLMux()
	vo := vault.NewOpener(vault.WithProviderOptions(vault.WithLogger(logger)))
	defer vo.Close()
	if err := mux.Register("vault", vo); err != nil {
		return err
	}
	path := fmt.Sprintf("vault://%s/creds/%s", mount, role)
	set, err := rotate.Open(ctx, mux, []rotate.Config{
		{Name: "db-user", URL: path + "#username"},
		{Name: "db-password", URL: path + "#password"},
	}, rotate.WithLogger(logger))
	if err != nil {
		return err
	}
	defer set.Close()
	defer r.Track(set)()
	user, err := set.Credential("db-user")
	if err != nil {
		return err
	}
	pass, err := set.Credential("db-password")
	if err != nil {
		return err
	}
	login := Login{User: user, Password: pass}
	// Connections live at most 10 minutes: well under the last third of a
	// lease's max TTL, which is what the old lease has left at a switch.
	pool, err := NewPool(ctx, PoolConfig{DSN: dsn, Login: login, MaxConnLifetime: 10 * time.Minute})
	if err != nil {
		return err
	}
	defer pool.Close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var cu string
		_, err := WithRetryOnRotation(ctx, login, 30*time.Second, func(ctx context.Context) error {
			return pool.QueryRow(ctx, "SELECT current_user").Scan(&cu)
		})
		if err != nil && ctx.Err() == nil {
			logger.Error("query failed", "err", err)
		} else if err == nil {
			v, _ := pass.Version()
			logger.Info("query ok", "user", cu, "lease_expires", v.Expires, "connections", pool.Stat().TotalConns())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// printf writes to w when it is not nil.
func printf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}
