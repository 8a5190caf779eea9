package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestStressRuns(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"stress", "-threads", "4", "-goroutines", "4", "-locks", "2", "-duration", "200ms"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d; stdout %q; stderr %q", code, out.String(), errOut.String())
	}
	if r, ok := parseRate(out.Bytes()); !ok || r <= 0 {
		t.Fatalf("no positive throughput in %q", out.String())
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

func TestParseRate(t *testing.T) {
	if r, ok := parseRate([]byte("mode=native x: 1234 ops/s (5 ops)\n")); !ok || r != 1234 {
		t.Fatalf("parseRate = %v, %v", r, ok)
	}
	if _, ok := parseRate([]byte("nothing here")); ok {
		t.Fatal("parseRate found a rate in text without one")
	}
}
