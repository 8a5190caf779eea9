// Command sitegen writes the generated assembly and Go files of every site
// in asm.Table into the owner packages. Run it with `go generate ./...`
// (asm/gen.go holds the //go:generate line); -root writes under another
// directory instead of the module root.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/asm/internal/encode"
)

func main() {
	root := flag.String("root", "", "output root (default: the module root above the working directory)")
	flag.Parse()
	if *root == "" {
		dir, err := os.Getwd()
		check(err)
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				check(fmt.Errorf("sitegen: no go.mod above the working directory; pass -root"))
			}
			dir = parent
		}
		*root = dir
	}
	files, err := encode.Generate(asm.Table)
	check(err)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(*root, filepath.FromSlash(n))
		check(os.MkdirAll(filepath.Dir(p), 0o755))
		check(os.WriteFile(p, files[n], 0o644))
	}
	// Remove generated files of packages that no longer declare sites.
	check(filepath.WalkDir(*root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() != "." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || (d.Name() != encode.AsmFile && d.Name() != encode.GoFile) {
			return nil
		}
		rel, err := filepath.Rel(*root, p)
		if err != nil {
			return err
		}
		if _, ok := files[filepath.ToSlash(rel)]; ok {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.HasPrefix(string(b), encode.Header) {
			fmt.Fprintf(os.Stderr, "sitegen: removing stale %s\n", rel)
			return os.Remove(p)
		}
		return err
	}))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
