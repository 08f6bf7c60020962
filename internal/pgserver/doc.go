// Package pgserver starts a throwaway PostgreSQL server for the examples
// and their tests: a real server from the machine's PostgreSQL packages, in
// a temporary folder, listening on a free loopback port, with its log in a
// file the caller can read (to prove no password ever reached it).
//
// It is a nested module with no dependencies so that the root module's
// `go test ./...` never needs PostgreSQL; the examples that use it replace
// it with this folder. The binaries are found through $PG_BINDIR, then
// pg_config on $PATH, then the newest /usr/lib/postgresql/*/bin (Debian's
// layout). `.ci/postgres` installs Debian's postgresql package when none
// is found.
//
// PostgreSQL refuses to run as root; when the process is root, the server
// runs as the "postgres" user through runuser, as Debian's own scripts do.
//
// Authentication is what production uses: scram-sha-256 on TCP for every
// role, and trust only on the server's private Unix socket for the admin
// connection ([Server.AdminDSN]).
package pgserver
