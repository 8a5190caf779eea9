package pvlock

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Mechanism is how Switch changes what SpinLock's methods run.
type Mechanism uint8

const (
	// Patched means the lock-op sites are rewritten in place: no path
	// reads a mode flag.
	Patched Mechanism = iota
	// Dispatch is the fallback where the sites cannot or may not be
	// patched (ReadStatus says why): the slow path dispatches on the published mode, and Unlock
	// always uses the paravirt release, which is correct in both modes.
	Dispatch
)

// String returns "patched" or "dispatch", or "Mechanism(n)" for an invalid
// value.
func (m Mechanism) String() string {
	switch m {
	case Patched:
		return "patched"
	case Dispatch:
		return "dispatch"
	}
	return fmt.Sprintf("Mechanism(%d)", uint8(m))
}

// Status describes the switch mechanism and its history.
type Status struct {
	// Mode is the mode SpinLock's methods run now.
	Mode Mode
	// Mechanism is Patched or Dispatch.
	Mechanism Mechanism
	// Writer is how patched sites are written: "procmem" (pwrite to
	// /proc/self/mem, never a writable+executable page) or "mprotect".
	// Empty under dispatch.
	Writer string
	// Why says why the dispatch fallback is in use. Under Patched it is
	// nil, unless the kernel came to refuse code writes while the sites
	// held the native variants: then the process stays native and Switch
	// refuses with ErrSwitchDisabled, which Why holds.
	Why error
	// Switches, Aborts and Failures count completed switches, switches
	// given up with ErrBusy, and switches the patcher refused or could
	// not finish.
	Switches, Aborts, Failures int64
	// LastSwitch and WorstSwitch are the latencies of the last and the
	// slowest completed switch, as its caller saw them: from the call of
	// Switch to its return, waiting for another switch included.
	LastSwitch, WorstSwitch time.Duration
	// Traps counts executions of lock-op sites that hit an INT3 while a
	// switch rewrote them (each emulated by the trap handler).
	Traps uint64
	// Hypervisor is what the CPUID hints said at start and where the
	// start mode came from (JSON key "hypervisor").
	Hypervisor Hypervisor `json:"hypervisor"`
	// Auto is the auto policy's state (JSON key "auto").
	Auto AutoState `json:"auto"`
}

// ReadStatus returns the current Status. Called soon after the program
// started, it may wait a few milliseconds for the patcher, which is made
// ready in the background when nothing had to be written at start.
func ReadStatus() Status {
	awaitPatcher(context.Background()) // once, at most milliseconds (ready.go)
	s := Status{
		Mode:        CurrentMode(),
		Mechanism:   Patched,
		Switches:    sw.switches.Load(),
		Aborts:      sw.aborts.Load(),
		Failures:    sw.failures.Load(),
		LastSwitch:  time.Duration(sw.last.Load()),
		WorstSwitch: time.Duration(sw.worst.Load()),
		Hypervisor:  hv,
		Auto:        ReadAuto(),
	}
	if sw.dispatch.Load() {
		s.Mechanism, s.Why = Dispatch, *sw.why.Load()
	} else {
		s.Writer = lockOps.writer()
		s.Traps = lockOps.traps()
		s.Why = lockOps.disabled()
	}
	return s
}

// oneLine joins the lines of a multi-line message (errors.Join puts each
// joined error on its own line) with "; ", so that String stays one line.
func oneLine(msg string) string {
	return strings.Join(strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

// String formats a Status on one line (a multi-line Why, as from
// errors.Join, is joined with "; "), e.g.
//
//	mode=native mechanism=patched (procmem) switches=2 aborts=0 failures=0 last=41µs worst=63µs traps=0 hypervisor="KVMKVMKVM" kvm-hints=0x0 realtime=false cpus=2 start=paravirt (hints: KVM without KVM_HINTS_REALTIME) auto=off
//
// The auto field is "off", "on" (with the policy's switches) or "held"
// (an operator took control).
func (s Status) String() string {
	mech := s.Mechanism.String()
	if s.Writer != "" {
		mech += " (" + s.Writer + ")"
	}
	if s.Why != nil {
		mech += " (" + oneLine(s.Why.Error()) + ")"
	}
	a := "off"
	switch {
	case s.Auto.Held:
		a = fmt.Sprintf("held (by operator; policy switches=%d)", s.Auto.Switches)
	case s.Auto.Enabled:
		a = fmt.Sprintf("on (policy switches=%d)", s.Auto.Switches)
	}
	if len(s.Auto.Missing) > 0 {
		a += fmt.Sprintf(" missing-inputs=%d", len(s.Auto.Missing))
	}
	return fmt.Sprintf("mode=%v mechanism=%s switches=%d aborts=%d failures=%d last=%v worst=%v traps=%d %v auto=%s",
		s.Mode, mech, s.Switches, s.Aborts, s.Failures, s.LastSwitch, s.WorstSwitch, s.Traps, s.Hypervisor, a)
}
