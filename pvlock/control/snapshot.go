package control

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/pvswitch/pvswitch/pvlock"
)

// status reads the process's pvlock state for a StatusReply.
func (s *Server) status() StatusReply {
	st := pvlock.ReadStatus()
	ss := pvlock.ReadStats()
	r := StatusReply{
		PID:           os.Getpid(),
		Command:       command(),
		Mode:          st.Mode.String(),
		Mechanism:     st.Mechanism.String(),
		Writer:        st.Writer,
		Switches:      st.Switches,
		Aborts:        st.Aborts,
		Failures:      st.Failures,
		LastSwitchNS:  int64(st.LastSwitch),
		WorstSwitchNS: int64(st.WorstSwitch),
		Traps:         st.Traps,
		SlowAcquires:  ss.SlowAcquires,
		Parks:         ss.Parks,
		Kicks:         ss.Kicks,
		Rescues:       ss.Rescues,
		Untracked:     ss.Untracked,
		Handoffs:      ss.Handoffs,
		SwitchWakes:   ss.SwitchWakes,
		Evictions:     ss.SwitchEvictions,
		Refused:       s.refused.Load(),
		Hypervisor:    st.Hypervisor,
		Auto:          st.Auto,
	}
	if st.Why != nil {
		r.Why = st.Why.Error()
	}
	return r
}

// command is the program's name, as ps shows it.
func command() string {
	if b, err := os.ReadFile("/proc/self/comm"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return filepath.Base(os.Args[0])
}

// Sites returns this process's lock-op sites (pvlock.Sites) as OpSites
// replies them: what `pvswitch sites` prints for its own process.
func Sites() []SiteReply {
	var out []SiteReply
	for _, s := range pvlock.Sites() {
		r := SiteReply{
			Name: s.Name, Addr: uint64(s.Addr), Len: s.Len, Live: s.Live,
			LiveVariant: s.LiveVariant, Traps: s.Traps,
		}
		if s.Err != nil {
			r.Err = s.Err.Error()
		}
		for _, v := range s.Variants {
			r.Variants = append(r.Variants, VariantReply{Name: v.Name, Bytes: v.Bytes, Asm: v.Asm})
		}
		out = append(out, r)
	}
	return out
}
