package main

import "testing"

// TestGeneratedUpToDate regenerates package testsite's site files from owner and
// compares them with the committed ones; it also fails when a generated
// file remains although owner declares no site. Run `go generate ./...` if
// it fails.
func TestGeneratedUpToDate(t *testing.T) {
	if err := owner.CheckHere("."); err != nil {
		t.Fatal(err)
	}
}
