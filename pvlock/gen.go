package pvlock

// The lock-op sites are declared by the command in ./internal/sitedecl;
// the line below runs it to regenerate zsites_amd64.s and zsites_amd64.go
// (`go generate ./...` from the module root runs it with the others).

//go:generate go run ./internal/sitedecl
