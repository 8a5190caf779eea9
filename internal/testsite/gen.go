package testsite

// The test sites are declared by the command in ./internal/sitedecl; the
// line below runs it to regenerate zsites_amd64.s and zsites_amd64.go.

//go:generate go run ./internal/sitedecl
