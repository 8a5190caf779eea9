package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/pvswitch/pvswitch/pvlock"
)

// Version is the protocol version this package speaks; requests carry it in
// "v" and replies echo it.
const Version = 1

// MaxRequest is the longest request line, newline included, in bytes.
const MaxRequest = 4096

// Op names a request.
type Op string

// The ops. A new op gets its constant here, its validation in
// DecodeRequest and its handler in the server's dispatch (server.go,
// Server.handle).
const (
	// OpStatus returns the Status reply: mode, mechanism, counters.
	OpStatus Op = "status"
	// OpSwitch switches the process's locks to Request.Mode and returns
	// the Switch reply.
	OpSwitch Op = "switch"
	// OpSites returns the lock-op sites: names, addresses, variant bytes.
	OpSites Op = "sites"
	// OpAuto hands control of the mode to the process's auto policy
	// (pvlock.Auto: it starts the policy if it was not running, and ends
	// an operator's hold if it was) and returns the Status reply.
	OpAuto Op = "auto"
)

// Request is one request line.
type Request struct {
	// V is the protocol version, Version.
	V int `json:"v"`
	// Op is what is asked.
	Op Op `json:"op"`
	// Mode is the mode to switch to, "native" or "paravirt"; OpSwitch only.
	Mode string `json:"mode,omitempty"`
	// TimeoutMS bounds an OpSwitch, in milliseconds; 0 means the server's
	// default (Options.SwitchTimeout). OpSwitch only.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// Response is one reply line.
type Response struct {
	// V is the protocol version of the reply, Version.
	V int `json:"v"`
	// OK says whether the request succeeded; if not, Error says why.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Status is set for OpStatus, and for OpSwitch and OpAuto (the state
	// after it).
	Status *StatusReply `json:"status,omitempty"`
	// Switch is set for OpSwitch when the switch completed.
	Switch *SwitchReply `json:"switch,omitempty"`
	// Sites is set for OpSites.
	Sites []SiteReply `json:"sites,omitempty"`
}

// StatusReply is pvlock.ReadStatus and pvlock.ReadStats of the process, and
// the endpoint's own counters. Durations are in nanoseconds.
type StatusReply struct {
	PID       int    `json:"pid"`
	Command   string `json:"command"`
	Mode      string `json:"mode"`      // "native" or "paravirt"
	Mechanism string `json:"mechanism"` // "patched" or "dispatch"
	Writer    string `json:"writer,omitempty"`
	Why       string `json:"why,omitempty"`

	Switches      int64  `json:"switches"`
	Aborts        int64  `json:"aborts"`
	Failures      int64  `json:"failures"`
	LastSwitchNS  int64  `json:"last_switch_ns"`
	WorstSwitchNS int64  `json:"worst_switch_ns"`
	Traps         uint64 `json:"traps"`

	SlowAcquires int64 `json:"slow_acquires"`
	Parks        int64 `json:"parks"`
	Kicks        int64 `json:"kicks"`
	Rescues      int64 `json:"rescues"`
	Untracked    int64 `json:"untracked"`
	Handoffs     int64 `json:"handoffs"`
	SwitchWakes  int64 `json:"switch_wakes"`
	Evictions    int64 `json:"switch_evictions"`

	// Hypervisor is what the CPUID hints said at start and where the
	// start mode came from; Auto is the auto policy's state.
	Hypervisor pvlock.Hypervisor `json:"hypervisor"`
	Auto       pvlock.AutoState  `json:"auto"`

	// Refused counts connections the endpoint refused on their peer
	// credentials.
	Refused int64 `json:"refused"`
}

// SwitchReply reports a completed switch.
type SwitchReply struct {
	From string `json:"from"`
	To   string `json:"to"`
	// LatencyNS is the switch's latency inside the process, from the call
	// of pvlock.Switch to its return.
	LatencyNS int64 `json:"latency_ns"`
}

// SiteReply is one lock-op site as the process sees it.
type SiteReply struct {
	Name        string         `json:"name"`
	Addr        uint64         `json:"addr"`
	Len         int            `json:"len"`
	Live        []byte         `json:"live"`
	LiveVariant string         `json:"live_variant,omitempty"`
	Traps       uint64         `json:"traps"`
	Err         string         `json:"err,omitempty"`
	Variants    []VariantReply `json:"variants"`
}

// VariantReply is one variant of a site: the bytes a switch writes, and the
// process's own disassembly of them (with symbol names).
type VariantReply struct {
	Name  string `json:"name"`
	Bytes []byte `json:"bytes"`
	Asm   string `json:"asm"`
}

// ErrRequest is wrapped by every error DecodeRequest returns.
var ErrRequest = errors.New("control: bad request")

// ErrTooLong is returned (wrapped) by ReadRequest for a line longer than
// MaxRequest.
var ErrTooLong = fmt.Errorf("%w: longer than %d bytes", ErrRequest, MaxRequest)

// DecodeRequest parses and validates one request line (without its
// newline). It rejects anything but one JSON object with known fields, the
// current version, a known op and, for OpSwitch, a valid mode and a
// non-negative timeout.
func DecodeRequest(line []byte) (Request, error) {
	var r Request
	if len(line) > MaxRequest {
		return r, ErrTooLong
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Request{}, fmt.Errorf("%w: trailing data after the JSON object", ErrRequest)
	}
	if r.V != Version {
		return Request{}, fmt.Errorf("%w: protocol version %d, this endpoint speaks %d", ErrRequest, r.V, Version)
	}
	switch r.Op {
	case OpStatus, OpSites, OpAuto:
		if r.Mode != "" || r.TimeoutMS != 0 {
			return Request{}, fmt.Errorf("%w: op %q takes no mode or timeout", ErrRequest, r.Op)
		}
	case OpSwitch:
		if _, err := pvlock.ParseMode(r.Mode); err != nil {
			return Request{}, fmt.Errorf("%w: %v", ErrRequest, err)
		}
		if r.TimeoutMS < 0 {
			return Request{}, fmt.Errorf("%w: negative timeout_ms %d", ErrRequest, r.TimeoutMS)
		}
	default:
		return Request{}, fmt.Errorf("%w: unknown op %q (want status, switch, sites or auto)", ErrRequest, r.Op)
	}
	return r, nil
}

// ReadRequestLine reads one line of at most MaxRequest bytes from r, without
// its newline. A longer line returns ErrTooLong; EOF before any byte returns
// io.EOF; EOF within a line returns io.ErrUnexpectedEOF.
func ReadRequestLine(r io.ByteReader) ([]byte, error) {
	var line []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if b == '\n' {
			return line, nil
		}
		if len(line)+1 >= MaxRequest {
			return nil, ErrTooLong
		}
		line = append(line, b)
	}
}

// encodeLine marshals v as one JSON line.
func encodeLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // our own types: cannot happen
		panic(err)
	}
	return append(b, '\n')
}
