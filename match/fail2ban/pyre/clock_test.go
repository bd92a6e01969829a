package pyre

import (
	"time"
	_ "unsafe" // go:linkname
)

// engineTick is regexp2's clock period, read where regexp2 keeps it (it
// has a setter and no getter), so the test sees the tick really in use.
//
//go:linkname engineTick github.com/dlclark/regexp2.clockPeriod
var engineTick time.Duration
