package expvars

import (
	"encoding/json"
	"expvar"
	"testing"

	"github.com/pvswitch/pvswitch/pvlock"
)

func TestPublished(t *testing.T) {
	v := expvar.Get(Name)
	if v == nil {
		t.Fatal("pvlock not published")
	}
	start := pvlock.CurrentMode()
	defer pvlock.Switch(t.Context(), start)
	other := pvlock.Paravirt
	if start == other {
		other = pvlock.Native
	}
	before := pvlock.ReadStatus().Switches
	if err := pvlock.Switch(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v.String()), &m); err != nil {
		t.Fatal(err)
	}
	if m["mode"] != other.String() || m["switches_total"] != float64(before+1) {
		t.Fatalf("published %v, want mode %v and switches_total %d", m, other, before+1)
	}
}

// TestNoPrometheus: this package must not link client_golang.
func TestNoPrometheus(t *testing.T) {
	// Checked by the go list in cmd/pvswitch's tests? Keep it here: the
	// import graph is part of this package's contract.
	deps := depsOf(t, "github.com/pvswitch/pvswitch/pvlock/expvars")
	for _, d := range deps {
		if d == "github.com/prometheus/client_golang/prometheus" {
			t.Fatal("expvars links client_golang")
		}
	}
}
