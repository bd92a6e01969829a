package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// TestFoundLogLine checks the found line of each recognised failure in the
// real binary's log (text format): pipeline, address, source (the file's
// path) and the failure's time, before the line of the ban they cause;
// and that log_failures: false silences it for its pipeline only.
func TestFoundLogLine(t *testing.T) {
	t.Parallel()
	both := "  %s:\n    enabled: true\n    ingest:\n      - file: {paths: [LOGFILE], poll: 200ms}\n    match: {filter: sshd}\n"
	s := newSetup(t, "pipelines:\n"+fmt.Sprintf(both, "e2e")+"    maxretry: 2\n"+fmt.Sprintf(both, "quiet")+"    log_failures: false\n")
	s.logLevel = "info"
	s.start(t, nil)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	s.appendLines(t, at, failures("192.0.2.7", 2)...)
	cl := daemon.NewClient(s.socket)
	testkit.WaitFor(t, 10*time.Second, func() error {
		for _, p := range []string{"e2e", "quiet"} {
			st, err := cl.PipelineStatus(t.Context(), p)
			if err != nil {
				return err
			}
			if n := st.Filter.TotalFailed; n != 2 {
				return fmt.Errorf("pipeline %s counted %d failures, not 2 yet", p, n)
			}
		}
		return nil
	})
	log := filepath.Join(s.dir, "daemon.log")
	want := fmt.Sprintf("level=INFO msg=found pipeline=e2e addr=192.0.2.7 source=%s failed_at=%s\n", s.logFile, at.UTC().Format(time.RFC3339))
	testkit.WaitFor(t, 5*time.Second, func() error { // the log is flushed within 100ms
		n := linesWith(t, log, want)
		return testkit.Check(n == 2, "%d lines in logjail's log end with %q, want 2", n, want)
	})
	// The ban's line follows the found lines that led to it.
	text := string(readFile(t, log))
	if ban, found := strings.Index(text, "msg=ban pipeline=e2e addr=192.0.2.7 "), strings.LastIndex(text, want); ban < found {
		t.Errorf("the ban's line is not after the found lines:\n%s", text)
	}
	if n := linesWith(t, log, "msg=found pipeline=quiet"); n != 0 {
		t.Errorf("%d found lines of pipeline quiet (log_failures: false)", n)
	}
}
