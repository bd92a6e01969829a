package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// A journald source whose journal does not exist says so everywhere: in
// validate, in status (text and JSON), in the log; and when the journal
// appears, it reads it from its start and says that too.
func TestJournalMissingThenAppears(t *testing.T) {
	t.Parallel()
	journalRemote(t)
	jdir := filepath.Join(t.TempDir(), "journal")
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSetup(t, strings.ReplaceAll(e2ePipeline("maxretry: 3", `ingest:
  - file: {paths: [LOGFILE], poll: 200ms}
  - journald: {directory: JDIR, match: [_SYSTEMD_UNIT=ssh.service]}`, sshdFilter), "JDIR", jdir))
	noJournal := "no journal files in " + jdir

	validate := func() (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(binary, "validate", "--config", s.config)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("validate: %v\n%s%s", err, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	out, warn := validate()
	if !strings.Contains(out, "OK") || !strings.Contains(warn, "warning: ") || !strings.Contains(warn, "pipeline e2e") ||
		!strings.Contains(warn, noJournal) {
		t.Errorf("validate without a journal: stdout %q, stderr %q; want OK and a warning naming the pipeline and %q", out, warn, noJournal)
	}

	s.start(t, nil)
	testkit.WaitFor(t, 10*time.Second, func() error {
		st := status(t, s.socket)
		return testkit.Check(len(st.Sources) == 2 && st.Sources[1].State == "unavailable",
			"the journald source unavailable: sources %+v", st.Sources)
	})
	st := status(t, s.socket).Sources
	if st[1].Reason != noJournal || st[1].LastEntry != nil || st[0].State != "reading" || st[0].LastEntry == nil {
		t.Errorf("status sources %+v", st)
	}
	text, err := exec.Command(binary, "status", "e2e", "--socket", s.socket).Output()
	if err != nil || !strings.Contains(string(text), "(unavailable: "+noJournal+", read 0,") || !strings.Contains(string(text), "no entry yet)") {
		t.Errorf("status text (%v):\n%s", err, text)
	}
	// logHas is nil once logjail's log has a line that re matches.
	logHas := func(re *regexp.Regexp) func() error {
		return func() error {
			b, _ := os.ReadFile(filepath.Join(s.dir, "daemon.log"))
			return testkit.Check(re.Match(b), "no line of logjail's log matches %s; the log:\n%s", re, b)
		}
	}
	source := regexp.QuoteMeta(`source="journald directory=` + jdir + ` _SYSTEMD_UNIT=ssh.service"`)
	testkit.WaitFor(t, 5*time.Second, logHas(regexp.MustCompile( // a WARN line for the unavailable source
		`level=WARN msg="source unavailable; it reads nothing" pipeline=e2e `+source+` state=unavailable reason="`+regexp.QuoteMeta(noJournal)+`"`)))

	// The journal appears: it is read from its start.
	w := &journalWriter{path: filepath.Join(jdir, "remote.journal")}
	w.write(t, "ssh.service", failureMessages("198.51.100.7", 3)...)
	waitBans(t, 15*time.Second, s.socket, "198.51.100.7")
	st = status(t, s.socket).Sources
	if st[1].State != "reading" || st[1].Reason != "" || st[1].Read != 3 || st[1].LastEntry == nil {
		t.Errorf("status after the journal appeared %+v", st[1])
	}
	testkit.WaitFor(t, 5*time.Second, logHas(regexp.MustCompile( // an INFO line for the recovered source
		`level=INFO msg="source recovered" pipeline=e2e `+source+` state=reading`)))
	if _, warn := validate(); warn != "" {
		t.Errorf("validate with a journal warns: %q", warn)
	}
}
