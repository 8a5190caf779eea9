package int3

import "unsafe"

// Fake signal frame offsets for tests (see handler_amd64.s).
const (
	TestSICode   = siCode
	TestUCRIP    = ucRIP
	TestSIKernel = siKernel
)

// CallHandler calls the handler with a fake siginfo and ucontext.
func CallHandler(info, uc []byte) {
	callHandler(sigTrap, unsafe.Pointer(&info[0]), unsafe.Pointer(&uc[0]))
}
