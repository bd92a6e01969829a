//go:build cgo && linux

package journald

// #cgo LDFLAGS: -ldl
// #include <dlfcn.h>
// #include <stdlib.h>
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// libNames are the names sdjournal tries, in its order; a variable so that
// tests can make the library missing.
var libNames = []string{
	"libsystemd-journal.so.0",
	"libsystemd-journal.so",
	"libsystemd.so.0",
	"libsystemd.so",
}

// symbols are the libsystemd functions a Journal uses through sdjournal.
var symbols = []string{
	"sd_journal_open", "sd_journal_open_directory", "sd_journal_open_files",
	"sd_journal_close", "sd_journal_add_match", "sd_journal_add_disjunction",
	"sd_journal_next", "sd_journal_previous", "sd_journal_seek_head",
	"sd_journal_seek_tail", "sd_journal_seek_cursor", "sd_journal_test_cursor",
	"sd_journal_get_cursor", "sd_journal_get_realtime_usec",
	"sd_journal_get_monotonic_usec", "sd_journal_restart_data",
	"sd_journal_enumerate_data", "sd_journal_wait", "sd_journal_get_usage",
}

// available checks that libsystemd can be loaded, as sdjournal will load
// it, and has every function used, so that a host without it gets a clear
// error from New instead of failures at every read.
func available() error {
	// dlerror is per thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var why []string
	for _, name := range libNames {
		cname := C.CString(name)
		h := C.dlopen(cname, C.RTLD_LAZY)
		C.free(unsafe.Pointer(cname))
		if h == nil {
			why = append(why, C.GoString(C.dlerror()))
			continue
		}
		defer C.dlclose(h)
		for _, sym := range symbols {
			csym := C.CString(sym)
			C.dlerror()
			C.dlsym(h, csym)
			e := C.dlerror()
			C.free(unsafe.Pointer(csym))
			if e != nil {
				return fmt.Errorf("%w: %s lacks %s (systemd too old?): %s", ErrUnavailable, name, sym, C.GoString(e))
			}
		}
		return nil
	}
	return fmt.Errorf("%w: libsystemd cannot be loaded (install libsystemd0): %s",
		ErrUnavailable, strings.Join(why, "; "))
}
