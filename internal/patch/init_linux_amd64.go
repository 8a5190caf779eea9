package patch

import (
	"fmt"
	"sync"
	"syscall"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/int3"
)

// membarrier(2) commands (include/uapi/linux/membarrier.h).
const (
	membarrierQuery                  = 0
	membarrierPrivateExpeditedSync   = 1 << 5 // MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
	membarrierRegisterPrivateExpSync = 1 << 6 // MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
	sysMembarrier                    = 324    // arch/x86/entry/syscalls/syscall_64.tbl
)

var (
	initOnce sync.Once
	initErr  error

	// reg maps every registered *asm.Site to its *int3.Site. Entries are
	// added (under mu, or by Init), never changed or removed.
	reg sync.Map
)

// Init prepares live patching once: installs the SIGTRAP handler,
// registers for membarrier SYNC_CORE, picks the text writer and registers
// every bound site. It returns the same error on every call; a non-nil
// error matches ErrUnavailable (except a *asm.MismatchError, which only
// concerns that site) and the program keeps running unpatched.
func Init() error {
	initOnce.Do(func() { initErr = doInit() })
	return initErr
}

func doInit() error {
	if err := int3.Install(); err != nil {
		return &UnavailableError{What: "sigtrap", Err: err}
	}
	mask, _, e := syscall.RawSyscall(sysMembarrier, membarrierQuery, 0, 0)
	if e != 0 {
		return &UnavailableError{What: "membarrier", Err: fmt.Errorf("membarrier(QUERY): %w", e)}
	}
	if mask&membarrierPrivateExpeditedSync == 0 || mask&membarrierRegisterPrivateExpSync == 0 {
		return &UnavailableError{What: "membarrier", Err: fmt.Errorf("kernel lacks MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE (query mask %#x)", mask)}
	}
	if _, _, e := syscall.RawSyscall(sysMembarrier, membarrierRegisterPrivateExpSync, 0, 0); e != 0 {
		return &UnavailableError{What: "membarrier", Err: fmt.Errorf("membarrier(REGISTER_PRIVATE_EXPEDITED_SYNC_CORE): %w", e)}
	}
	ok := asmSites()
	rs, err := int3.Register(ok...)
	if err != nil {
		return &UnavailableError{What: "sigtrap", Err: err}
	}
	for i, s := range ok {
		reg.Store(s, rs[i])
	}
	if err := pickWriter(ok); err != nil {
		return &UnavailableError{What: "text writes", Err: err}
	}
	return nil
}

// asmSites returns the bound sites that verified.
func asmSites() []*asm.Site {
	var ok []*asm.Site
	for _, s := range asm.Sites() {
		if s.Err() == nil {
			ok = append(ok, s)
		}
	}
	return ok
}

// register returns s's handler registration, registering it now if it was
// bound after Init (a package initialized after the one that called Init).
// Called with mu held.
func register(s *asm.Site) (*int3.Site, error) {
	if r, ok := reg.Load(s); ok {
		return r.(*int3.Site), nil
	}
	if writer == writerMprotect {
		if err := checkTextProt([]*asm.Site{s}); err != nil {
			return nil, err
		}
	}
	rs, err := int3.Register(s)
	if err != nil {
		return nil, err
	}
	reg.Store(s, rs[0])
	return rs[0], nil
}
