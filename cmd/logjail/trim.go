package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimAfterStart gives back, once the daemon runs, the memory only its
// start needed; an idle logjail is then as small as what idling touches
// (the goal is 16 MiB resident for the shipped configuration). Two parts:
//
//   - The heap: loading the configuration and compiling the filters leave
//     garbage the collector frees but the runtime keeps for reuse for
//     minutes; FreeOSMemory returns it at once.
//   - The binary's code and read-only data: at start the kernel maps all
//     of it (readahead into large folios, mapped whole), some 18 MiB, most
//     of it code that only parsing, compiling and setting up ran.
//     MADV_PAGEOUT gives those pages up (the kernel reclaims them when
//     no other process maps them); a page that is needed again is read
//     back on its first use, as at start.
//
// Both are best effort: an older kernel without MADV_PAGEOUT (before 5.4)
// keeps the pages, which costs memory only.
func trimAfterStart() {
	debug.FreeOSMemory()
	for _, m := range readOnlyMappings("/proc/self/maps", executable()) {
		// By address: the mappings are no Go memory (unix.Madvise wants a slice).
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.lo, m.hi-m.lo, unix.MADV_RANDOM)
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.lo, m.hi-m.lo, unix.MADV_PAGEOUT)
	}
}

// executable is the path of the running binary as /proc/self/maps names
// it; "" when unknown.
func executable() string {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return ""
	}
	return exe
}

// readOnlyMappings are the mappings of file exe in the maps file (the
// format of /proc/self/maps) that are not writable: code and read-only
// data, which the file holds as they are. Writable ones (the data
// segment) are left alone: their pages may differ from the file's.
func readOnlyMappings(maps, exe string) []addrRange {
	if exe == "" {
		return nil
	}
	f, err := os.Open(maps)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []addrRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fs := strings.Fields(sc.Text())
		if len(fs) != 6 || fs[5] != exe || !strings.HasPrefix(fs[1], "r") || strings.Contains(fs[1], "w") {
			continue
		}
		if r, ok := parseRange(fs[0]); ok {
			out = append(out, r)
		}
	}
	return out
}

// addrRange is a mapping's addresses, [lo, hi).
type addrRange struct{ lo, hi uintptr }

// parseRange parses "lo-hi" (hexadecimal) as /proc/self/maps writes it.
func parseRange(s string) (addrRange, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return addrRange{}, false
	}
	lo, err1 := strconv.ParseUint(a, 16, 64)
	hi, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil || hi <= lo {
		return addrRange{}, false
	}
	return addrRange{uintptr(lo), uintptr(hi)}, true
}
