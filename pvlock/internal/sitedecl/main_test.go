package main

import (
	"testing"

	"github.com/pvswitch/pvswitch/internal/asm/sitegen"
)

// TestGeneratedUpToDate regenerates pvlock's site files from owner and
// compares them with the committed ones; it also fails when a generated
// file remains although owner declares no site. Run `go generate ./...` if
// it fails.
func TestGeneratedUpToDate(t *testing.T) {
	root, err := sitegen.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Check(root); err != nil {
		t.Fatal(err)
	}
}
