// Command postgres shows a PostgreSQL password rotated under a running
// service with no failed query: a pgxpool whose connections authenticate
// with the current value of a rotate credential, recycled when the password
// changes, with the password in no log — neither the service's nor the
// database server's.
//
// Offline (the default) it starts a throwaway PostgreSQL server from the
// machine's packages, runs 8 workers querying through the pool, and rotates
// the role's password under them:
//
//	go run .
//
// Against your own database, give the DSN without a password and a credkit
// URL for the password; the program then queries once a second, following
// every rotation of the secret:
//
//	DATABASE_URL='postgres://app@db.internal:5432/app?sslmode=verify-full' \
//	DATABASE_PASSWORD_URL='file:///run/secrets/db-password' go run .
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
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

func main() {
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		err = serve(ctx, dsn, os.Getenv("DATABASE_PASSWORD_URL"))
	} else {
		var st Stats
		st, err = Demo(ctx, DemoConfig{Workers: 8, Rotations: 3, LaggingStore: true, Out: os.Stdout})
		if err == nil {
			err = st.Check()
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

// serve queries the database once a second until ctx ends, with the
// password from passwordURL kept current.
func serve(ctx context.Context, dsn, passwordURL string) error {
	if passwordURL == "" {
		return errors.New("DATABASE_PASSWORD_URL is required with DATABASE_URL (for example file:///run/secrets/db-password)")
	}
	r := redact.New()
	logger := slog.New(redact.NewHandler(slog.NewTextHandler(os.Stderr, nil), r))
	set, err := rotate.Open(ctx, provider.NewURLMux(), []rotate.Config{{Name: "postgres", URL: passwordURL}},
		rotate.WithLogger(logger))
	if err != nil {
		return err
	}
	defer set.Close()
	defer r.Track(set)()
	password, err := set.Credential("postgres")
	if err != nil {
		return err
	}
	pool, err := NewPool(ctx, PoolConfig{DSN: dsn, Password: password, Overlap: 10 * time.Minute})
	if err != nil {
		return err
	}
	defer pool.Close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var user string
		_, err := WithRetryOnRotation(ctx, password, 30*time.Second, func(ctx context.Context) error {
			return pool.QueryRow(ctx, "SELECT current_user").Scan(&user)
		})
		if err != nil && ctx.Err() == nil {
			logger.Error("query failed", "err", err)
		} else if err == nil {
			logger.Info("query ok", "user", user, "connections", pool.Stat().TotalConns())
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
