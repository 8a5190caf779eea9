package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pvswitch/pvswitch/bench"
)

// TestMain lets this test binary serve as the bench children and
// antagonists that `pvswitch bench` re-executes.
func TestMain(m *testing.M) {
	if code, ok := bench.ChildMain(os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestBenchBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "-suite", "huge"}, "unknown suite"},
		{[]string{"bench", "-reps", "-1"}, "-reps"},
		{[]string{"bench", "-duration", "-1s"}, "-duration"},
		{[]string{"bench", "-readme", "README.md"}, "needs -out"},
		{[]string{"bench", "-progress", "fancy"}, "-progress"},
		{[]string{"bench", "-locks", "spinny"}, "unknown lock"},
		{[]string{"bench", "-cases", "("}, "-cases"},
		{[]string{"bench", "-cases", "nosuchcase"}, "no case"},
		{[]string{"bench", "-flagbin", "/nonexistent/pvswitch"}, "-flagbin"},
		{[]string{"bench", "extra"}, "unexpected arguments"},
		{[]string{"bench", "-from", "/nonexistent/results.json"}, "-from"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: stderr %q lacks %q", tc.args, errOut.String(), tc.want)
		}
	}
}

// TestBenchTiny runs two cases of the tiny suite (a child row, in-process
// rows, an antagonist) and checks the table and the files.
func TestBenchTiny(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	os.WriteFile(readme, []byte("# x\n"+bench.ReadmeBegin+"\nold\n"+bench.ReadmeEnd+"\n"), 0o644)
	out := filepath.Join(dir, "results")
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "-suite", "tiny", "-reps", "1", "-duration", "30ms", "-cases", "gor|antag",
		"-locks", "paravirt,ttas,sync.Mutex", "-flagbin", "off", "-progress", "plain", "-out", out, "-readme", readme}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"`gor-4-cs20`", "`locked-4-cs20-antag1`", "sync.Mutex Mops/s", "wrote "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, f := range []string{"results.json", "results.csv", "table.md", "oversub.png", "threads-cs20.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	b, _ := os.ReadFile(readme)
	if strings.Contains(string(b), "old") || !strings.Contains(string(b), "results/oversub.png") {
		t.Errorf("README not rewritten:\n%s", b)
	}

	// -from renders the saved results again, without running.
	again := filepath.Join(dir, "again")
	stdout.Reset()
	if code := run([]string{"bench", "-from", filepath.Join(out, "results.json"), "-out", again}, &stdout, &stderr); code != 0 {
		t.Fatalf("-from: exit %d: %s", code, stderr.String())
	}
	first, _ := os.ReadFile(filepath.Join(out, "table.md"))
	second, _ := os.ReadFile(filepath.Join(again, "table.md"))
	if !bytes.Equal(first, second) {
		t.Errorf("-from rendered a different table:\n%s\nvs\n%s", first, second)
	}
}
