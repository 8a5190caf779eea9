package bench

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// signalContext returns a context canceled on SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}
