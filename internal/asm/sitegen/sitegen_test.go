package sitegen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/asm/sitegen"
)

// TestNoOrphans fails when a generated site file of the module names a
// generator that is gone (the owner's declaring program was deleted, or the
// file predates the owners' declarations): run `go generate ./...` from the
// owner or delete the file. Each declaring program's own test checks that
// its files are up to date.
func TestNoOrphans(t *testing.T) {
	root, err := sitegen.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := sitegen.CheckOrphans(root); err != nil {
		t.Fatal(err)
	}
}

func testOwner(decls ...asm.Decl) *sitegen.Owner {
	return &sitegen.Owner{Pkg: "a/own", Generator: "a/own/internal/sitedecl", Decls: decls}
}

var flagDecl = asm.Decl{Pkg: "a/own", Name: "Flag", Sig: "(p *uint8)", Args: 8, Pre: asm.MovDI("p"), Len: 5,
	Variants: []asm.Variant{asm.Store("one", 1, "DI", 0, 1), asm.Store("two", 1, "DI", 0, 2)}, Post: asm.Ret()}

// TestCheckAndWrite: Check reports missing, stale and left-over generated
// files; Write fixes all three and leaves a hand-written file alone.
func TestCheckAndWrite(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "own")
	if err := os.MkdirAll(filepath.Join(dir, "internal", "sitedecl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "internal", "sitedecl", "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := testOwner(flagDecl)
	if err := o.Check(root); err == nil || !strings.Contains(err.Error(), sitegen.GoFile) {
		t.Fatalf("Check with no files: %v", err)
	}
	if err := o.Write(root); err != nil {
		t.Fatal(err)
	}
	if err := o.Check(root); err != nil {
		t.Fatalf("Check after Write: %v", err)
	}
	if err := sitegen.CheckOrphans(root); err != nil {
		t.Fatalf("CheckOrphans: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, sitegen.AsmFile))
	if err != nil {
		t.Fatal(err)
	}
	if gen, ok := sitegen.GeneratorOf(b); !ok || gen != o.Generator {
		t.Fatalf("header %q names %q, %v", strings.SplitN(string(b), "\n", 2)[0], gen, ok)
	}

	// A changed declaration makes the files stale.
	o2 := testOwner(flagDecl)
	o2.Decls[0].Variants = []asm.Variant{asm.Store("one", 1, "DI", 0, 1), asm.Store("three", 1, "DI", 0, 3)}
	if err := o2.Check(root); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("Check of a changed declaration: %v", err)
	}

	// An owner that declares no site any more: its files are left over.
	empty := testOwner()
	if err := empty.Check(root); err == nil || !strings.Contains(err.Error(), "declares no site") {
		t.Fatalf("Check of an owner without sites: %v", err)
	}
	if err := empty.Write(root); err != nil {
		t.Fatal(err)
	}
	if err := empty.Check(root); err != nil {
		t.Fatalf("Check after Write removed the files: %v", err)
	}
	for _, f := range []string{sitegen.AsmFile, sitegen.GoFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Fatalf("%s not removed: %v", f, err)
		}
	}

	// A hand-written file of that name is not the generator's business.
	hand := filepath.Join(dir, sitegen.GoFile)
	if err := os.WriteFile(hand, []byte("package own\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := empty.Write(root); err != nil {
		t.Fatal(err)
	}
	if err := empty.Check(root); err != nil {
		t.Fatalf("Check with a hand-written %s: %v", sitegen.GoFile, err)
	}
	if _, err := os.Stat(hand); err != nil {
		t.Fatalf("hand-written file removed: %v", err)
	}
}

// TestCheckOrphans: a generated file whose generator is gone, or lies
// outside the file's package, is reported.
func TestCheckOrphans(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "own")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, gen := range []string{"a/own/internal/sitedecl", "b/internal/sitedecl", "internal/asm/internal/sitegen from asm.Table"} {
		if err := os.WriteFile(filepath.Join(dir, sitegen.AsmFile), []byte(sitegen.Header(gen)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := sitegen.CheckOrphans(root); err == nil || !strings.Contains(err.Error(), "a/own/"+sitegen.AsmFile) {
			t.Errorf("generator %q: CheckOrphans = %v", gen, err)
		}
	}
}

// TestGenerateRefuses: declarations of another package, a generator
// outside the owner, a site declared twice and a list of mixed signatures
// are refused.
func TestGenerateRefuses(t *testing.T) {
	other := flagDecl
	other.Pkg = "b"
	wrongSig := flagDecl
	wrongSig.Name, wrongSig.Sig = "Other", "(p *uint16)"
	for name, o := range map[string]*sitegen.Owner{
		"foreign site":    testOwner(other),
		"outer generator": {Pkg: "a/own", Generator: "a/sitedecl", Decls: []asm.Decl{flagDecl}},
		"twice":           testOwner(flagDecl, flagDecl),
		"mixed list": {Pkg: "a/own", Generator: "a/own/g", Decls: []asm.Decl{flagDecl, wrongSig},
			Lists: []sitegen.List{{Funcs: "all", Names: []string{"Flag", "Other"}}}},
		"unknown site in list": {Pkg: "a/own", Generator: "a/own/g", Decls: []asm.Decl{flagDecl},
			Lists: []sitegen.List{{Funcs: "all", Names: []string{"Flag", "Nope"}}}},
	} {
		if _, err := o.Generate(); err == nil {
			t.Errorf("%s: generated", name)
		}
	}
}
