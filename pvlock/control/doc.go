// Package control is pvlock's control endpoint: a Unix socket through which
// an operator (the pvswitch command) reads the lock state of a running
// program and switches its locks live, and the client side of it.
//
// A program embeds the endpoint with one call and stops it cleanly:
//
//	srv, err := control.Start(control.Options{})
//	if err != nil { ... }
//	defer srv.Stop()
//
// Package pvlock does not import this package: a program that imports only
// pvlock links neither net nor the control code.
//
// # Where the socket is
//
// The socket is <dir>/<pid>.sock, mode 0600, where dir is, in order: the
// PVLOCK_CONTROL_DIR environment variable if set; $XDG_RUNTIME_DIR/pvswitch
// if XDG_RUNTIME_DIR is set; /run/pvswitch for root; else
// <os.TempDir()>/pvswitch-<uid>. The directory is created 0700 if missing and
// must then be owned by the caller and not readable, writable or searchable
// by others, or Start and the client refuse it (see DefaultDir). Sockets
// left behind by processes that died are removed by Start (its own pid's),
// and by List and Dial when they find no live listener.
//
// # Access control
//
// Besides the file modes, every accepted connection's peer credentials
// (SO_PEERCRED) are checked: a peer whose uid is neither the server's uid
// nor root gets the error reply "permission denied" and the connection is
// closed; Server.Refused counts them.
//
// # Protocol
//
// JSON lines over the stream, versioned: each request is one JSON object on
// one line of at most MaxRequest bytes, for example
//
//	{"v":1,"op":"status"}
//	{"v":1,"op":"switch","mode":"paravirt","timeout_ms":2000}
//	{"v":1,"op":"sites"}
//
// and each reply is one JSON object on one line, a Response, with "ok" and,
// when not ok, "error". A connection may carry several requests, one after
// another. A request that is malformed (not JSON, unknown fields, wrong
// version, unknown op, bad mode), longer than MaxRequest, or not complete
// within the read deadline (Options.ReadTimeout, 5 s by default) gets an
// error reply and the connection is closed; the program is unaffected. The
// ops are listed by the Op constants; a new op (a later change adds "auto",
// to hand control back to an auto policy) is a new constant, a case in
// DecodeRequest's validation and a case in the server's dispatch.
package control
