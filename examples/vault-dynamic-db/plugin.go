package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgPlugin is the PostgreSQL side of the fake Vault's database engine: it
// runs, on a real server, the statements Vault's postgresql-database-plugin
// runs for a role (creation, renew, revocation), so that the leased
// username and password really authenticate. Like Vault's plugin with
// password_authentication = "scram-sha-256", it sends the password's SCRAM
// verifier, never the password, so the statements can be logged.
type pgPlugin struct {
	admin *pgx.Conn // superuser, over the server's private socket
	// DropWait bounds how long RevokeUser waits for the user's sessions to
	// end before it drops the role (they should be gone already: the pool
	// recycled them when the lease was replaced).
	dropWait time.Duration

	mu             sync.Mutex
	created        int
	renewed        int
	dropped        int
	sessionsAtDrop int             // sessions of a user still open when its lease ended: must be 0
	live           map[string]bool // users created and not dropped
}

func newPGPlugin(admin *pgx.Conn) *pgPlugin {
	return &pgPlugin{admin: admin, dropWait: 5 * time.Second, live: map[string]bool{}}
}

func (p *pgPlugin) exec(sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.admin.Exec(ctx, sql, args...)
	return err
}

// NewUser is the role's creation statements:
//
//	CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
//	GRANT SELECT ON documents TO "{{name}}";
func (p *pgPlugin) NewUser(username, password string, expiration time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, err := SCRAMVerifier(password)
	if err != nil {
		return err
	}
	id := pgx.Identifier{username}.Sanitize()
	// The verifier is base64 and '$', ':': nothing to escape.
	if err := p.exec(fmt.Sprintf("CREATE ROLE %s WITH LOGIN PASSWORD '%s' VALID UNTIL '%s'", id, v, expiration.UTC().Format(time.RFC3339))); err != nil {
		return err
	}
	if err := p.exec("GRANT SELECT ON documents TO " + id); err != nil {
		return err
	}
	p.created++
	p.live[username] = true
	return nil
}

// RenewUser is the renew statement:
//
//	ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';
func (p *pgPlugin) RenewUser(username string, expiration time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.exec(fmt.Sprintf("ALTER ROLE %s VALID UNTIL '%s'", pgx.Identifier{username}.Sanitize(), expiration.UTC().Format(time.RFC3339))); err != nil {
		return err
	}
	p.renewed++
	return nil
}

// RevokeUser is the revocation statements, run when the lease is revoked
// or expires:
//
//	REVOKE ALL ON documents FROM "{{name}}";
//	DROP ROLE "{{name}}";
//
// Before dropping it counts the user's sessions still open (waiting up to
// dropWait for closing ones to end): a session left at the end of its
// lease is one the service failed to recycle.
func (p *pgPlugin) RevokeUser(username string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	deadline := time.Now().Add(p.dropWait)
	for {
		var n int
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", username).Scan(&n)
		cancel()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			p.sessionsAtDrop += n
			break
		}
		time.Sleep(10 * time.Millisecond) // waiting on another process: the server's backends ending
	}
	id := pgx.Identifier{username}.Sanitize()
	if err := p.exec("REVOKE ALL ON documents FROM " + id); err != nil {
		return err
	}
	if err := p.exec("DROP ROLE " + id); err != nil {
		return err
	}
	p.dropped++
	delete(p.live, username)
	return nil
}

type pluginStats struct {
	created, renewed, dropped, sessionsAtDrop int
}

func (p *pgPlugin) stats() pluginStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pluginStats{p.created, p.renewed, p.dropped, p.sessionsAtDrop}
}
