module github.com/credkit/credkit/examples/postgres

go 1.26.0

require (
	github.com/credkit/credkit v0.0.0
	github.com/credkit/credkit/internal/pgserver v0.0.0
	github.com/jackc/pgx/v5 v5.12.0
)

require (
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	go.uber.org/goleak v1.3.0
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace (
	github.com/credkit/credkit => ../..
	github.com/credkit/credkit/internal/pgserver => ../../internal/pgserver
)
