//go:build !cgo || !linux

package journald

import (
	"context"
	"fmt"
	"runtime"

	"github.com/logjail/logjail/ingest"
)

// available explains why this build cannot read the journal.
func available() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: the systemd journal exists on Linux only", ErrUnavailable)
	}
	return fmt.Errorf("%w: logjail was built without cgo (CGO_ENABLED=0); "+
		"rebuild it with cgo and libsystemd-dev to read the journal", ErrUnavailable)
}

// probe cannot open anything in this build.
func (j *Journal) probe() error { return available() }

// Run cannot read anything in this build; New never returns a Journal here.
func (j *Journal) Run(ctx context.Context, out chan<- ingest.Entry) error {
	return available()
}
