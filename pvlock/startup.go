package pvlock

import (
	"errors"
	"log"
	"os"
)

// EnvMode is the environment variable read once at start to choose the
// process-wide mode: "native" or "paravirt" force it; "auto" takes the
// start mode from the hypervisor's hints and starts the auto policy
// (StartAuto with DefaultAutoConfig); unset or empty takes the start mode
// from the hints (Hypervisor says which rule decided). An invalid value is
// logged and native is used.
const EnvMode = "PVLOCK_MODE"

// EnvPatch is the environment variable that, set to "off", makes pvlock
// use the dispatch fallback even where the sites could be patched (to test
// or compare it, or to keep a process from writing its own code).
const EnvPatch = "PVLOCK_PATCH"

// errPatchOff is the reason ReadStatus gives when EnvPatch=off.
var errPatchOff = errors.New("pvlock: patching disabled by " + EnvPatch + "=off")

func init() {
	hv = detectHypervisor()
	m, from, auto := startMode(os.LookupEnv, log.Printf, hv)
	hv.StartMode, hv.ModeFrom, hv.AutoAtStart = m.String(), from, auto
	setup(m, os.Getenv(EnvPatch), log.Printf)
	if auto {
		startAutoAtInit()
	}
}

// modeFromEnv reads an explicit EnvMode ("native" or "paravirt"); unset
// gives Native, an invalid value is reported with logf and Native is used.
func modeFromEnv(lookup func(string) (string, bool), logf func(string, ...any)) Mode {
	s, ok := lookup(EnvMode)
	if !ok || s == "" {
		return Native
	}
	m, err := ParseMode(s)
	if err != nil {
		logf("%v; %s=%q ignored, using %v", err, EnvMode, s, Native)
		return Native
	}
	return m
}

// setup runs once at package init, before any SpinLock method can run a
// site: it finds the sites, chooses the mechanism and opens the gate with
// the start mode published. The patcher is made ready, and the sites
// written to the start mode, in the background (ready.go); with
// PVLOCK_PATCH=off, or in the flag-dispatch build, the dispatch fallback is
// used from the start.
func setup(initial Mode, patchEnv string, logf func(string, ...any)) {
	sw.drainBound.Store(int64(DefaultDrainBound))
	sw.turn = make(chan struct{}, 1)
	lockOps = findLockOps()
	switch patchEnv {
	case "", "on":
	case "off":
		useDispatch(errPatchOff, logf)
		sw.b.Open(uint32(initial))
		return
	default:
		logf("pvlock: %s=%q is not \"on\" or \"off\"; ignored", EnvPatch, patchEnv)
	}
	if flagDispatch {
		useDispatch(errFlagBuild, logf)
		sw.b.Open(uint32(initial))
		return
	}
	sw.b.Open(uint32(initial))
	preparePatcherAsync(lockOps.init, initial, logf)
}
