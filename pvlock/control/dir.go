package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DirEnv is the environment variable that, when set, names the endpoint
// directory for both the server and the client.
const DirEnv = "PVLOCK_CONTROL_DIR"

// DefaultDir returns the endpoint directory of the calling user (see the
// package doc for the order of choices). It does not create it.
func DefaultDir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "pvswitch")
	}
	if os.Getuid() == 0 {
		return "/run/pvswitch"
	}
	return filepath.Join(os.TempDir(), "pvswitch-"+strconv.Itoa(os.Getuid()))
}

// ensureDir creates dir 0700 if it is missing and checks that it is a
// directory owned by the caller that others cannot use.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("control: create the endpoint directory: %w", err)
	}
	return checkDir(dir)
}

// checkDir checks that dir is a directory, owned by the caller, with no
// permission bits for group or others.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("control: endpoint directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("control: endpoint directory %s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("control: endpoint directory %s: no owner information on this system", dir)
	}
	if int(st.Uid) != os.Getuid() {
		return fmt.Errorf("control: endpoint directory %s is owned by uid %d, not by this user (uid %d): set %s to a directory of your own", dir, st.Uid, os.Getuid(), DirEnv)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("control: endpoint directory %s has mode %v, want 0700: chmod 700 it or set %s", dir, fi.Mode().Perm(), DirEnv)
	}
	return nil
}

// SocketPath returns the socket path of process pid in dir.
func SocketPath(dir string, pid int) string {
	return filepath.Join(dir, strconv.Itoa(pid)+".sock")
}

// pidOf parses a socket file name "<pid>.sock".
func pidOf(name string) (int, bool) {
	s, ok := strings.CutSuffix(name, ".sock")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(s)
	return pid, err == nil && pid > 0
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
