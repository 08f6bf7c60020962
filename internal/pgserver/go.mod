module github.com/credkit/credkit/internal/pgserver

go 1.24.0
