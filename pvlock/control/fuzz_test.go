package control

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzDecode: DecodeRequest and ReadRequestLine never panic, and every
// request DecodeRequest accepts is valid and survives a round trip.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"op":"status"}`))
	f.Add([]byte(`{"v":1,"op":"switch","mode":"native","timeout_ms":100}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ReadRequestLine(bufio.NewReader(bytes.NewReader(b)))
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if r.V != Version {
			t.Fatalf("accepted version %d", r.V)
		}
		switch r.Op {
		case OpStatus, OpSites, OpAuto:
			if r.Mode != "" || r.TimeoutMS != 0 {
				t.Fatalf("accepted op %q with mode %q, timeout %d", r.Op, r.Mode, r.TimeoutMS)
			}
		case OpSwitch:
			if r.Mode != "native" && r.Mode != "paravirt" {
				t.Fatalf("accepted mode %q", r.Mode)
			}
		default:
			t.Fatalf("accepted op %q", r.Op)
		}
		again, err := DecodeRequest(bytes.TrimSuffix(encodeLine(r), []byte("\n")))
		if err != nil || again != r {
			t.Fatalf("round trip of %+v: %+v, %v", r, again, err)
		}
	})
}
