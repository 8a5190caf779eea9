package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

// Options configure Start. The zero value is the production setting.
type Options struct {
	// Dir is the endpoint directory; empty means DefaultDir, created 0700
	// if missing. A Dir set here is used as it is, without the ownership
	// and mode checks: the caller is responsible for it (tests use this).
	Dir string
	// SocketMode is the socket file's mode; 0 means 0600. Only tests
	// should widen it: the peer-credential check still applies.
	SocketMode os.FileMode
	// ReadTimeout bounds the wait for each request line; 0 means 5 s.
	ReadTimeout time.Duration
	// SwitchTimeout bounds a switch whose request names no timeout; 0
	// means 5 s.
	SwitchTimeout time.Duration
	// MaxConns bounds the connections served at once; more wait in the
	// listen queue. 0 means 8.
	MaxConns int
}

// Server is a running endpoint. Its methods are safe for concurrent use.
type Server struct {
	ln      *net.UnixListener
	path    string
	opts    Options
	uid     int
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sem     chan struct{}
	refused atomic.Int64
	stopped sync.Once

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Start creates this process's socket and serves it until Stop. It fails if
// the directory is unusable (see the package doc) or if another live
// listener holds this pid's socket; a socket left there by a dead process
// with the same pid is removed.
func Start(opts Options) (*Server, error) {
	if opts.Dir == "" {
		opts.Dir = DefaultDir()
		if err := ensureDir(opts.Dir); err != nil {
			return nil, err
		}
	}
	if opts.SocketMode == 0 {
		opts.SocketMode = 0o600
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 5 * time.Second
	}
	if opts.SwitchTimeout <= 0 {
		opts.SwitchTimeout = 5 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 8
	}
	path := SocketPath(opts.Dir, os.Getpid())
	if err := removeStale(path); err != nil {
		return nil, err
	}
	// Create the socket with no permission for anyone but the owner from
	// the start, then set the asked mode.
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control: listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, opts.SocketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: chmod %s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		ln: ln, path: path, opts: opts, uid: os.Getuid(),
		ctx: ctx, cancel: cancel,
		sem:   make(chan struct{}, opts.MaxConns),
		conns: map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// removeStale removes a socket at path that no live process listens on.
func removeStale(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("control: %s is in use by a live listener (is the endpoint already started in this process?)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("control: remove stale socket %s: %w", path, err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Refused returns how many connections were refused on their peer
// credentials.
func (s *Server) Refused() int64 { return s.refused.Load() }

// Stop closes the socket (removing its file), cancels switches in progress,
// closes open connections and waits for the endpoint's goroutines. It may
// be called more than once.
func (s *Server) Stop() error {
	var err error
	s.stopped.Do(func() {
		s.cancel()
		err = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and the like: back off rather than spin.
			select {
			case <-time.After(50 * time.Millisecond):
				continue
			case <-s.ctx.Done():
				return
			}
		}
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			c.Close()
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// serve answers the requests on one connection until EOF, an error or a
// bad request.
func (s *Server) serve(c *net.UnixConn) {
	uid, err := peerUID(c)
	if err != nil || !allowed(uid, s.uid) {
		s.refused.Add(1)
		msg := "permission denied: the endpoint serves only its own user and root"
		if err != nil {
			msg = "permission denied: peer credentials unreadable: " + err.Error()
		}
		s.reply(c, Response{Error: msg})
		return
	}
	r := bufio.NewReaderSize(c, MaxRequest)
	for {
		c.SetReadDeadline(time.Now().Add(s.opts.ReadTimeout))
		line, err := ReadRequestLine(r)
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, ErrTooLong):
				s.reply(c, Response{Error: err.Error()})
			case errors.As(err, &ne) && ne.Timeout():
				s.reply(c, Response{Error: fmt.Sprintf("control: bad request: no complete request line within %v", s.opts.ReadTimeout)})
			case errors.Is(err, io.ErrUnexpectedEOF):
				s.reply(c, Response{Error: "control: bad request: connection closed in the middle of a request line"})
			}
			return // EOF or a closed connection: nothing to say
		}
		req, err := DecodeRequest(line)
		if err != nil {
			s.reply(c, Response{Error: err.Error()})
			return
		}
		if !s.reply(c, s.handle(req)) {
			return
		}
	}
}

// reply writes one response line with a write deadline; it reports whether
// the write succeeded.
func (s *Server) reply(c net.Conn, r Response) bool {
	r.V = Version
	r.OK = r.Error == ""
	c.SetWriteDeadline(time.Now().Add(s.opts.ReadTimeout))
	_, err := c.Write(encodeLine(r))
	return err == nil
}

// handle runs one valid request. A new op gets its case here.
func (s *Server) handle(req Request) Response {
	switch req.Op {
	case OpStatus:
		st := s.status()
		return Response{Status: &st}
	case OpSwitch:
		return s.doSwitch(req)
	case OpSites:
		return Response{Sites: Sites()}
	case OpAuto:
		err := pvlock.Auto()
		st := s.status()
		if err != nil {
			return Response{Error: err.Error(), Status: &st}
		}
		return Response{Status: &st}
	}
	return Response{Error: fmt.Sprintf("control: op %q is not served", req.Op)}
}

func (s *Server) doSwitch(req Request) Response {
	to, _ := pvlock.ParseMode(req.Mode) // validated by DecodeRequest
	d := s.opts.SwitchTimeout
	if req.TimeoutMS > 0 {
		d = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(s.ctx, d)
	defer cancel()
	from := pvlock.CurrentMode()
	start := time.Now()
	err := pvlock.Switch(ctx, to)
	lat := time.Since(start)
	st := s.status()
	if err != nil {
		return Response{Error: err.Error(), Status: &st}
	}
	return Response{Status: &st, Switch: &SwitchReply{From: from.String(), To: to.String(), LatencyNS: int64(lat)}}
}
