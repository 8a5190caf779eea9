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

	"github.com/pvswitch/pvswitch/asm"
	"github.com/pvswitch/pvswitch/asm/internal/encode"
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
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
