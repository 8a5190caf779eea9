package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"syscall"
	"time"
)

// ErrNoEndpoint is wrapped by Dial's error when process pid has no
// endpoint: no socket, a socket nobody listens on (removed as stale), or
// a process that is gone.
var ErrNoEndpoint = errors.New("control: no endpoint")

// ErrRefused is wrapped by Call's error when the endpoint answered with an
// error reply.
var ErrRefused = errors.New("control: endpoint refused")

// Client is a connection to one process's endpoint. It is not safe for
// concurrent use.
type Client struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// Dial connects to process pid's endpoint in dir (empty: DefaultDir). A
// socket whose process is gone, or that no one listens on, is removed and
// reported as ErrNoEndpoint. timeout bounds the connect and each later
// Call's wait for its reply (a switch's own timeout is added to it); 0
// means 5 s.
func Dial(dir string, pid int, timeout time.Duration) (*Client, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("control: bad pid %d: want a positive process id", pid)
	}
	if dir == "" {
		dir = DefaultDir()
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	path := SocketPath(dir, pid)
	if _, err := os.Lstat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if !processAlive(pid) {
				return nil, fmt.Errorf("%w for pid %d: no such process", ErrNoEndpoint, pid)
			}
			return nil, fmt.Errorf("%w for pid %d: no socket %s (does the program start the endpoint, and does it run as this user with the same %s or XDG_RUNTIME_DIR?)", ErrNoEndpoint, pid, path, DirEnv)
		}
		return nil, fmt.Errorf("control: %s: %w", path, err)
	}
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || !processAlive(pid) {
			os.Remove(path) // stale: its process died without removing it
			return nil, fmt.Errorf("%w for pid %d: stale socket %s removed (the process exited or no longer serves it)", ErrNoEndpoint, pid, path)
		}
		return nil, fmt.Errorf("control: connect to pid %d at %s: %w", pid, path, err)
	}
	return &Client{c: c, r: bufio.NewReader(c), timeout: timeout}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// Call sends req and returns the reply. An error reply is returned with
// an error wrapping ErrRefused.
func (c *Client) Call(req Request) (Response, error) {
	req.V = Version
	d := c.timeout + time.Duration(req.TimeoutMS)*time.Millisecond
	if req.Op == OpSwitch && req.TimeoutMS == 0 {
		d += 5 * time.Second // the server's default switch timeout
	}
	c.c.SetDeadline(time.Now().Add(d))
	if _, err := c.c.Write(encodeLine(req)); err != nil {
		return Response{}, fmt.Errorf("control: send %s: %w", req.Op, err)
	}
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return Response{}, fmt.Errorf("control: read the reply to %s: %w", req.Op, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("control: malformed reply to %s: %w", req.Op, err)
	}
	if resp.V != Version {
		return resp, fmt.Errorf("control: reply speaks protocol version %d, this client %d: use the pvswitch built with the program's pvlock", resp.V, Version)
	}
	if !resp.OK {
		return resp, fmt.Errorf("%w: %s", ErrRefused, resp.Error)
	}
	return resp, nil
}

// Endpoint is one process found by List.
type Endpoint struct {
	PID  int    // the process's id
	Path string // its socket
}

// List returns the endpoints in dir (empty: DefaultDir), by pid. Sockets of
// dead processes, and sockets no one listens on, are removed and not
// listed.
func List(dir string) ([]Endpoint, error) {
	if dir == "" {
		dir = DefaultDir()
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil // no program has started an endpoint
		}
		return nil, fmt.Errorf("control: list endpoints: %w", err)
	}
	var out []Endpoint
	for _, e := range ents {
		pid, ok := pidOf(e.Name())
		if !ok || e.Type()&os.ModeSocket == 0 {
			continue
		}
		path := SocketPath(dir, pid)
		if !processAlive(pid) {
			os.Remove(path)
			continue
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				os.Remove(path)
			}
			continue
		}
		c.Close()
		out = append(out, Endpoint{PID: pid, Path: path})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}
