//go:build linux && amd64

package patch_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/int3"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// wxMappings returns the lines of /proc/self/maps that are writable and
// executable.
func wxMappings(t *testing.T) []string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && strings.Contains(fields[1], "w") && strings.Contains(fields[1], "x") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// TestNoWritableExecutable: after switches through either writer, no
// mapping of the process is writable and executable.
func TestNoWritableExecutable(t *testing.T) {
	if wx := wxMappings(t); len(wx) > 0 {
		t.Fatalf("W+X mappings before any switch: %q", wx)
	}
	for _, w := range []string{"procmem", "mprotect"} {
		restore, err := patch.UseWriter(w)
		if err != nil {
			t.Fatal(err)
		}
		if got := patch.Mechanism(); got != w {
			t.Fatalf("Mechanism = %q, want %q", got, w)
		}
		sites := append([]*asm.Site{testsite.FlagSite}, testsite.BatchSites[:64]...)
		for _, v := range []int{1, 0, 1, 0} {
			mustSwitch(t, v, sites...)
		}
		var b uint8
		testsite.Flag(&b)
		restore()
		if b != 1 {
			t.Fatalf("%s: Flag stored %d after switching back", w, b)
		}
		if wx := wxMappings(t); len(wx) > 0 {
			t.Fatalf("%s writer left W+X mappings: %q", w, wx)
		}
	}
}

func TestRefuseForeignBytes(t *testing.T) {
	s := testsite.BatchSites[511] // no test runs it
	mustSwitch(t, 0, s)
	orig := s.Live()
	if e := patch.RawWrite(s.Addr()+4, []byte{0x7f}); e != 0 {
		t.Fatal(e)
	}
	defer patch.RawWrite(s.Addr()+4, orig[4:])
	err := patch.Switch(to([]*asm.Site{s}, 1))
	var me *asm.MismatchError
	if !errors.Is(err, asm.ErrMismatch) || !errors.As(err, &me) || me.Site != s.Name() {
		t.Fatalf("Switch over foreign bytes = %v, want an asm.MismatchError naming %s", err, s.Name())
	}
	if !strings.Contains(err.Error(), "c6 44 27 00 7f") {
		t.Errorf("error does not show the bytes: %v", err)
	}
	if got, _ := s.Match(s.Live()); got != -1 || patch.Current(s) != 0 {
		t.Fatalf("refused switch changed something")
	}
}

func TestRefuseReplacedHandler(t *testing.T) {
	var ours int3.Sigaction
	if e := rtSigaction(&goHandler, &ours); e != 0 {
		t.Fatal(e)
	}
	err := patch.Switch(to([]*asm.Site{testsite.FlagSite}, 1))
	if e := rtSigaction(&ours, nil); e != 0 {
		t.Fatal(e)
	}
	if !errors.Is(err, int3.ErrReplaced) {
		t.Fatalf("Switch with the Go handler reinstalled = %v, want int3.ErrReplaced", err)
	}
	if patch.Current(testsite.FlagSite) != 0 {
		t.Fatal("refused switch changed the site")
	}
	mustSwitch(t, 1, testsite.FlagSite)
	mustSwitch(t, 0, testsite.FlagSite)
}

func TestRefuseTracer(t *testing.T) {
	defer patch.SetTracerPid(func() (int, error) { return 4242, nil })()
	err := patch.Switch(to([]*asm.Site{testsite.FlagSite}, 1))
	if !errors.Is(err, patch.ErrTracer) || !strings.Contains(err.Error(), "PVSWITCH_ALLOW_TRACER") {
		t.Fatalf("Switch under a tracer = %v, want ErrTracer saying how to allow it", err)
	}
	patch.AllowTracer(true)
	defer patch.AllowTracer(false)
	mustSwitch(t, 1, testsite.FlagSite)
	mustSwitch(t, 0, testsite.FlagSite)
}

func TestRefuseBadVariant(t *testing.T) {
	if err := patch.Switch(to([]*asm.Site{testsite.FlagSite}, 2)); !errors.Is(err, patch.ErrVariant) {
		t.Fatalf("Switch to variant 2 of 2 = %v", err)
	}
}

// TestWriterFromEnv: PVSWITCH_PATCH_WRITER=mprotect selects the fallback
// writer at Init (checked in a subprocess, since Init runs once).
func TestWriterFromEnv(t *testing.T) {
	if want := os.Getenv("PVSWITCH_WANT_MECHANISM"); want != "" {
		if got := patch.Mechanism(); got != want {
			t.Fatalf("Mechanism = %q, want %q", got, want)
		}
		mustSwitch(t, 1, testsite.FlagSite)
		mustSwitch(t, 0, testsite.FlagSite)
		if wx := wxMappings(t); len(wx) > 0 {
			t.Fatalf("W+X mappings: %q", wx)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriterFromEnv$", "-test.v")
	cmd.Env = append(os.Environ(), "PVSWITCH_PATCH_WRITER=mprotect", "PVSWITCH_WANT_MECHANISM=mprotect")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestWriterFromEnv") {
		t.Fatalf("subprocess: %v\n%s", err, out)
	}
}

// TestReadTracerPid: the tracer check's reader (its own buffer, no
// allocation) agrees with a plain parse of /proc/self/status.
func TestReadTracerPid(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	want := -1
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok {
			want, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	got, err := patch.ReadTracerPid()
	if err != nil || got != want {
		t.Fatalf("ReadTracerPid() = %d, %v; /proc/self/status says %d", got, err, want)
	}
}
