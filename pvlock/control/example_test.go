package control_test

import (
	"fmt"
	"log"
	"os"

	"github.com/pvswitch/pvswitch/pvlock/control"
)

// Start the endpoint in a program that uses pvlock, and stop it on the way
// out. An operator then runs `pvswitch status -p PID`.
func ExampleStart() {
	dir, err := os.MkdirTemp("", "pvswitch-example-") // 0700; empty Options.Dir uses DefaultDir
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := control.Start(control.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()

	// What pvswitch does: connect by pid and ask.
	c, err := control.Dial(dir, os.Getpid(), 0)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Call(control.Request{Op: control.OpStatus})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.OK, resp.Status.PID == os.Getpid(), resp.Status.Mechanism != "")
	// Output: true true true
}
