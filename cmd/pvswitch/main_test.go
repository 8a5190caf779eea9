package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

func TestStressRuns(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"stress", "-threads", "4", "-goroutines", "4", "-locks", "2", "-duration", "200ms"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d; stdout %q; stderr %q", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), " ops/s") {
		t.Fatalf("no throughput in %q", out.String())
	}
	if !strings.Contains(out.String(), "rescues=0") {
		t.Fatalf("stats missing or rescues != 0: %q", out.String())
	}
}

func TestBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"stress", "-threads", "0", "-goroutines", "0"},
		{"stress", "-locks", "0"},
		{"stress", "-duration", "-1s"},
		{"demo", "-threads", "-3"},
		{"demo", "-tick", "2s", "-phase", "1s"},
		{"stress", "-nosuchflag"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage error)", args, code)
		}
		if errOut.Len() == 0 {
			t.Errorf("%q: nothing said on stderr", args)
		}
	}
}

// TestDemoSwitchesLive runs the demo briefly: free, CPU hogs, free, with
// the auto policy, native, paravirt and sync.Mutex; auto must switch to
// paravirt live, and no wakeup may be lost.
func TestDemoSwitchesLive(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"demo", "-threads", "8", "-phase", "300ms", "-tick", "100ms"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d; stdout %q; stderr %q", code, out.String(), errOut.String())
	}
	for _, want := range []string{"auto switched to paravirt", "rescues=0", "mode=native", "mode=paravirt", "sync.Mutex"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestDemoSaysWhenASwitchFails: with a drain bound no drain can meet, every
// switch gives up; the demo must say which switch never happened and exit
// non-zero.
func TestDemoSaysWhenASwitchFails(t *testing.T) {
	prev, err := pvlock.SetDrainBound(time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	defer pvlock.SetDrainBound(prev)
	var out, errOut bytes.Buffer
	code := run([]string{"demo", "-threads", "2", "-phase", "100ms", "-tick", "50ms"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d with every switch failing, want 1; stdout %q", code, out.String())
	}
	// Either the policy's switch to paravirt never happened, or a switch
	// the demo makes gave up (ErrBusy): the demo must say which.
	msg := errOut.String()
	if !strings.Contains(msg, "never happened") && !strings.Contains(msg, "switch busy") {
		t.Fatalf("stderr does not say which switch failed: %q", msg)
	}
}

func TestSitesAndStatus(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"sites"}, &out, &errOut); code != 0 {
		t.Fatalf("sites: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"pvlock.release", "pvlock.lockSlowEntry", "paravirt", "native", "JMP"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("sites output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "  * ") != 2 && strings.Contains(out.String(), "mechanism patched") {
		t.Errorf("want exactly one live variant marked per site:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"status"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "mechanism=") {
		t.Fatalf("status: exit %d: %q", code, out.String())
	}
}
