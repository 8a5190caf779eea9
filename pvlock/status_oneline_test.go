package pvlock

import (
	"errors"
	"strings"
	"testing"
)

// TestStatusStringOneLine: Status.String is documented as one line, also
// when the reason comes from errors.Join (which puts each error on a line
// of its own).
func TestStatusStringOneLine(t *testing.T) {
	s := Status{Mode: Native, Mechanism: Dispatch, Why: errors.Join(errors.New("first cause"), errors.New("second cause"))}
	got := s.String()
	if strings.ContainsAny(got, "\n\r") {
		t.Fatalf("Status.String is not one line:\n%s", got)
	}
	if !strings.Contains(got, "first cause; second cause") {
		t.Fatalf("Status.String = %q, want both causes joined by \"; \"", got)
	}
}
