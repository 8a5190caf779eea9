package patch

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/pvswitch/pvswitch/internal/asm"
)

// checkTextProt verifies (from /proc/self/maps) that every site's page is
// mapped r-x, the protection the mprotect writer restores.
func checkTextProt(sites []*asm.Site) error {
	maps, err := readMaps()
	if err != nil {
		return err
	}
	for _, s := range sites {
		for p := s.Addr() &^ (pageSize - 1); p < s.Addr()+uintptr(s.Len()); p += pageSize {
			m, ok := maps.find(p)
			if !ok || m.perms[:3] != "r-x" {
				return fmt.Errorf("site %s: page %#x is not mapped r-x (%q); the mprotect writer would change its protection", s.Name(), p, m.perms)
			}
		}
	}
	return nil
}

// mapping is one line of /proc/self/maps.
type mapping struct {
	lo, hi uintptr
	perms  string
}

type mapsList []mapping

func (m mapsList) find(p uintptr) (mapping, bool) {
	for _, x := range m {
		if p >= x.lo && p < x.hi {
			return x, true
		}
	}
	return mapping{}, false
}

func readMaps() (mapsList, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out mapsList
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, mapping{lo: uintptr(l), hi: uintptr(h), perms: fields[1]})
	}
	return out, sc.Err()
}
