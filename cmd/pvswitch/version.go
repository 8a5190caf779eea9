package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/pvswitch/pvswitch/pvlock/control"
)

// versionCmd prints the module version, the VCS revision it was built
// from, the Go version and the control protocol version.
func versionCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	jsonOut := fs.Bool("json", false, "print JSON for scripts")
	if code := parseRemote(fs, args, &remoteFlags{timeout: 1}, false, stderr); code >= 0 {
		return code
	}
	v := struct {
		Module   string `json:"module"`
		Revision string `json:"revision,omitempty"`
		Go       string `json:"go"`
		Protocol int    `json:"protocol"`
	}{Module: "(unknown)", Protocol: control.Version}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module, v.Go = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Revision = s.Value
			}
		}
	}
	if *jsonOut {
		printJSON(stdout, v)
		return exitOK
	}
	fmt.Fprintf(stdout, "pvswitch %s", v.Module)
	if v.Revision != "" {
		fmt.Fprintf(stdout, " (%s)", v.Revision)
	}
	fmt.Fprintf(stdout, " %s, control protocol v%d\n", v.Go, v.Protocol)
	return exitOK
}
