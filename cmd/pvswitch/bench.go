package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/pvswitch/pvswitch/bench"
)

// benchCmd is `pvswitch bench`: it runs a suite of the bench package
// (quick, full or tiny) and prints the table; with -out it writes
// results.json, results.csv, table.md and the plots; with -readme it also
// rewrites the README's generated measurements section. The rows that need
// the process-wide mode run in re-executed copies of this binary (bench
// children, recognised by bench.ChildEnv before any flag is parsed); the
// flag-dispatch rows need a binary built with -tags pvswitch_flagdispatch,
// which -flagbin names or -flagbin=build builds with the Go toolchain from
// the module in the current directory. -from renders a saved results.json
// again without running anything. A row that cannot run is skipped and
// the output and JSON say why. Ctrl-C stops the run and its antagonists.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	if code, ok := bench.ChildMain(stdout, stderr); ok {
		return code
	}
	fs := newFlagSet("bench", stderr)
	suiteName := fs.String("suite", "quick", "suite: quick (under 3 minutes on 2 CPUs), full, or tiny (seconds)")
	out := fs.String("out", "", "directory for results.json, results.csv, table.md and the plots (PNG and SVG)")
	readme := fs.String("readme", "", "README to rewrite between the generated-measurements markers (needs -out)")
	reps := fs.Int("reps", 0, "repetitions of every row (0: the suite's)")
	dur := fs.Duration("duration", 0, "length of every run (0: the suite's)")
	cases := fs.String("cases", "", "run only cases whose name matches this regular expression")
	locks := fs.String("locks", "", "comma-separated locks to run (default all of each case's): "+lockNames())
	flagbin := fs.String("flagbin", "build", "pvswitch_flagdispatch binary for the flag rows: a path, \"build\" (go build it now), or \"off\"")
	from := fs.String("from", "", "do not run: render this results.json again (with -out and -readme)")
	progress := fs.String("progress", "auto", "progress display: auto (a bar on a terminal, plain lines otherwise), bar, plain, off")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "pvswitch bench: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() != 0 {
		return bad("unexpected arguments %q", fs.Args())
	}
	suite, err := bench.SuiteByName(*suiteName)
	if err != nil {
		return bad("-suite: %v", err)
	}
	if *reps < 0 {
		return bad("-reps must not be negative")
	} else if *reps > 0 {
		suite.Reps = *reps
	}
	if *dur < 0 {
		return bad("-duration must not be negative")
	}
	if *readme != "" && *out == "" {
		return bad("-readme needs -out (the README links the plots written there)")
	}
	switch *progress {
	case "auto", "bar", "plain", "off":
	default:
		return bad("-progress: %q is not auto, bar, plain or off", *progress)
	}
	if suite, err = filterSuite(suite, *cases, *locks, *dur); err != nil {
		return bad("%v", err)
	}
	if *from != "" {
		rep, err := readReport(*from)
		if err != nil {
			return bad("-from: %v", err)
		}
		fmt.Fprint(stdout, bench.Markdown(rep, ""))
		return writeOut(rep, *out, *readme, stdout, stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "pvswitch bench: cannot find this binary to re-execute: %v\n", err)
		return 1
	}
	r := &bench.Runner{Exe: exe, Args: []string{"bench"}}
	switch *flagbin {
	case "off":
		r.FlagSkip = "-flagbin=off"
	case "build":
		tmp, err := os.MkdirTemp("", "pvswitch-bench-")
		if err != nil {
			fmt.Fprintf(stderr, "pvswitch bench: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		fmt.Fprintln(stderr, "pvswitch bench: building the pvswitch_flagdispatch binary for the flag rows...")
		if p, why := buildFlagBinary(ctx, tmp); why != "" {
			r.FlagSkip = why
			fmt.Fprintf(stderr, "pvswitch bench: the flag-dispatch rows are skipped: %s\n", why)
		} else {
			r.FlagExe, r.FlagArgs = p, []string{"bench"}
		}
	default:
		if _, err := os.Stat(*flagbin); err != nil {
			return bad("-flagbin: %v", err)
		}
		r.FlagExe, r.FlagArgs = *flagbin, []string{"bench"}
	}
	r.Progress = progressFunc(*progress, stderr)

	start := time.Now()
	rep, err := r.Run(ctx, suite)
	if err != nil {
		fmt.Fprintf(stderr, "\npvswitch bench: %v\n", err)
		if rep == nil || !errors.Is(err, context.Canceled) {
			return 1
		}
	}
	fmt.Fprintf(stderr, "\n")
	fmt.Fprint(stdout, bench.Markdown(rep, ""))
	fmt.Fprintf(stdout, "\nsuite %s: %v wall\n", suite.Name, time.Since(start).Round(time.Second))
	if err != nil {
		return 1 // interrupted: nothing written
	}
	return writeOut(rep, *out, *readme, stdout, stderr)
}

// readReport reads a results.json.
func readReport(path string) (*bench.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, err
	}
	if rep.Schema != bench.SchemaVersion {
		return nil, fmt.Errorf("%s has schema %q, want %q", path, rep.Schema, bench.SchemaVersion)
	}
	return &rep, nil
}

// writeOut writes rep's files into out and its section into readme (each
// if not empty).
func writeOut(rep *bench.Report, out, readme string, stdout, stderr io.Writer) int {
	if out != "" {
		files, err := bench.WriteFiles(rep, out)
		if err != nil {
			fmt.Fprintf(stderr, "pvswitch bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %d files to %s\n", len(files), out)
		if readme != "" {
			rel, err := filepath.Rel(filepath.Dir(readme), out)
			if err != nil {
				fmt.Fprintf(stderr, "pvswitch bench: %v\n", err)
				return 1
			}
			prefix := filepath.ToSlash(rel) + "/"
			body := bench.Markdown(rep, prefix)
			if err := bench.UpdateReadme(readme, body); err != nil {
				fmt.Fprintf(stderr, "pvswitch bench: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "rewrote the measurements in %s\n", readme)
		}
	}
	return 0
}

func lockNames() string {
	var s []string
	for _, l := range bench.AllLocks {
		s = append(s, string(l))
	}
	return strings.Join(s, ",")
}

// filterSuite keeps the cases matching casesRE and the locks listed, and
// overrides the runs' duration (switched cases keep their longer one when
// dur is 0).
func filterSuite(s bench.Suite, casesRE, locks string, dur time.Duration) (bench.Suite, error) {
	var re *regexp.Regexp
	if casesRE != "" {
		var err error
		if re, err = regexp.Compile(casesRE); err != nil {
			return s, fmt.Errorf("-cases: %v", err)
		}
	}
	var want map[bench.Lock]bool
	if locks != "" {
		want = map[bench.Lock]bool{}
		for _, n := range strings.Split(locks, ",") {
			l, err := bench.ParseLock(strings.TrimSpace(n))
			if err != nil {
				return s, fmt.Errorf("-locks: %v", err)
			}
			want[l] = true
		}
	}
	var cs []bench.Case
	for _, c := range s.Cases {
		if re != nil && !re.MatchString(c.Workload.Name) {
			continue
		}
		if want != nil {
			var ls []bench.Lock
			for _, l := range c.Locks {
				if want[l] {
					ls = append(ls, l)
				}
			}
			if len(ls) == 0 {
				continue
			}
			c.Locks = ls
		}
		if dur > 0 {
			c.Workload.Duration = dur
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return s, fmt.Errorf("no case of suite %q matches -cases %q and -locks %q", s.Name, casesRE, locks)
	}
	s.Cases = cs
	return s, nil
}

// buildFlagBinary builds this module's pvswitch with -tags
// pvswitch_flagdispatch into dir; it returns the binary, or why it could
// not.
func buildFlagBinary(ctx context.Context, dir string) (string, string) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", "no Go toolchain in PATH to build the pvswitch_flagdispatch binary (give one with -flagbin PATH)"
	}
	mod, err := exec.CommandContext(ctx, goTool, "list", "-m").Output()
	if err != nil || strings.TrimSpace(string(mod)) != "github.com/pvswitch/pvswitch" {
		return "", "the current directory is not in the pvswitch module, so the pvswitch_flagdispatch binary cannot be built (run from the repository or give -flagbin PATH)"
	}
	p := filepath.Join(dir, "pvswitch-flagdispatch")
	cmd := exec.CommandContext(ctx, goTool, "build", "-tags", "pvswitch_flagdispatch", "-o", p, "github.com/pvswitch/pvswitch/cmd/pvswitch")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("go build -tags pvswitch_flagdispatch failed: %v: %s", err, strings.TrimSpace(string(b)))
	}
	return p, ""
}

// progressFunc returns the Runner's progress callback for mode.
func progressFunc(mode string, w io.Writer) func(done, total int, what string) {
	if mode == "auto" {
		mode = "plain"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "off":
		return nil
	case "bar":
		var bar *progressbar.ProgressBar
		return func(done, total int, what string) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionShowCount(),
					progressbar.OptionSetWidth(30), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
			}
			bar.Describe(fmt.Sprintf("%-36s", what))
			bar.Set(done)
		}
	}
	return func(done, total int, what string) {
		fmt.Fprintf(w, "[%4d/%d] %s\n", done, total, what)
	}
}
