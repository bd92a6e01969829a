package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// TestJournalPriorityPrefix runs the real binary with its stderr a file
// and JOURNAL_STREAM naming that file (as systemd names the journal's
// stream), naming another file, or unset: only in the first case does
// each line start with its level's syslog priority, <7> debug, <6> info,
// <4> warning, <3> the error logjail run ends with. systemd-journald
// itself cannot be run by hand here (it needs to be PID 1's service, with
// its sockets in /run/systemd/journal): the test stands in the stream
// identity journald's clients see.
func TestJournalPriorityPrefix(t *testing.T) {
	t.Parallel()
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		stream func(stderr string) string // JOURNAL_STREAM, "" unset
		prefix bool
	}{
		{"journal", streamOf, true},
		{"other stream", func(string) string { return streamOf(other) }, false},
		{"unset", func(string) string { return "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// No enforcer: a warning at start.
			s := newSetup(t, e2ePipeline(fileSource, sshdFilter))
			stderr := filepath.Join(s.dir, "stderr")
			lines := runWithStream(t, s, stderr, tc.stream)
			want := map[string]string{"DEBUG": "<7>", "INFO": "<6>", "WARN": "<4>"}
			unseen := map[string]bool{"DEBUG": true, "INFO": true, "WARN": true}
			level := regexp.MustCompile(`level=(\w+)`)
			for _, line := range lines {
				if strings.HasPrefix(line, "logjail: ") || strings.HasPrefix(line, "<3>logjail: ") {
					if got := strings.HasPrefix(line, "<3>"); got != tc.prefix {
						t.Errorf("the error line %q: prefix %t, want %t", line, got, tc.prefix)
					}
					continue
				}
				m := level.FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("a line without a level: %q", line)
				}
				p := ""
				if tc.prefix {
					p = want[m[1]]
				}
				if !strings.HasPrefix(line, p+"time=") {
					t.Errorf("line %q: want it to start with %q", line, p+"time=")
				}
				delete(unseen, m[1])
			}
			if len(unseen) != 0 || !slicesHasPrefix(lines, "logjail: ", "<3>logjail: ") {
				t.Errorf("levels not seen: %v; want also the error line, in:\n%s", unseen, strings.Join(lines, "\n"))
			}
		})
	}
}

// streamOf is JOURNAL_STREAM for the file at path: its device and inode.
func streamOf(path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "stat " + path + " failed"
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// runWithStream runs s's logjail (dry run) at debug level with stderr
// into the file stderr and JOURNAL_STREAM from stream, until it has read
// a line; then a second logjail on the same state fails, its error line
// appended to the same file. It returns the file's lines.
func runWithStream(t *testing.T, s *setup, stderr string, stream func(string) string) []string {
	t.Helper()
	f, err := os.OpenFile(stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := os.Environ()
	if v := stream(stderr); v != "" {
		env = append(env, "JOURNAL_STREAM="+v)
	}
	first := s.command(nil)
	first.Env, first.Stderr = env, f
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	testkit.WaitFor(t, 20*time.Second, func() error {
		s.appendLines(t, time.Now(), "sshd[999]: Server listening on 0.0.0.0 port 22.")
		return testkit.Check(sourceRead(s.socket, "e2e") > 0, "logjail has read nothing yet")
	})
	second := s.command(nil) // the state store is locked: it fails
	second.Env, second.Stderr = env, f
	if err := second.Run(); err == nil {
		t.Fatal("a second logjail on the same state directory started")
	}
	first.Process.Signal(syscall.SIGTERM)
	first.Wait()
	return strings.Split(strings.TrimSpace(string(readFile(t, stderr))), "\n")
}

func slicesHasPrefix(lines []string, prefixes ...string) bool {
	for _, l := range lines {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				return true
			}
		}
	}
	return false
}

// TestJournalPriorityRealJournald runs systemd-journald by hand (in a
// private mount namespace, testdata/journald/stream.sh) and logjail on a
// journal stream of it: each entry has its level's priority and none
// keeps the prefix in its message, and `journalctl -p warning` returns
// the warnings and the error logjail ended with, nothing else.
func TestJournalPriorityRealJournald(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "unshare", "systemd-cat", "journalctl")
	testkit.NeedFile(t, "/lib/systemd/systemd-journald", "systemd")
	s := newSetup(t, e2ePipeline(fileSource, sshdFilter)) // no enforcer: a warning at start
	out := t.TempDir()
	script, err := filepath.Abs(fixture("journald", "stream.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "env", "SOCKET="+s.socket, "sh", script, out,
		binary, "run", "--config", s.config, "--state-dir", s.stateDir, "--socket", s.socket, "--log-level", "debug", "--dry-run")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s\njournald: %s", script, err, b, readFile(t, filepath.Join(out, "journald.log")))
	}
	wantPriority := map[string]string{"level=DEBUG": "7", "level=INFO": "6", "level=WARN": "4", "logjail: --log-format": "3"}
	seen := map[string]int{}
	for _, e := range journalEntries(t, filepath.Join(out, "all.json")) {
		for part, p := range wantPriority {
			if strings.Contains(e.Message, part) {
				seen[part]++
				if e.Priority != p || strings.HasPrefix(e.Message, "<") {
					t.Errorf("entry %q has priority %s, want %s and no prefix", e.Message, e.Priority, p)
				}
			}
		}
	}
	for part := range wantPriority {
		if seen[part] == 0 {
			t.Errorf("no entry with %q in the journal", part)
		}
	}
	warnings := journalEntries(t, filepath.Join(out, "warning.json"))
	for _, e := range warnings {
		if e.Priority != "4" && e.Priority != "3" {
			t.Errorf("journalctl -p warning gave %q (priority %s)", e.Message, e.Priority)
		}
	}
	if len(warnings) != seen["level=WARN"]+seen["logjail: --log-format"] {
		t.Errorf("journalctl -p warning gave %d entries, want the %d warnings and errors", len(warnings), seen["level=WARN"]+seen["logjail: --log-format"])
	}
}

// journalEntry is what the test reads of an entry of `journalctl -o json`.
type journalEntry struct {
	Message  string `json:"MESSAGE"`
	Priority string `json:"PRIORITY"`
}

func journalEntries(t *testing.T, path string) []journalEntry {
	t.Helper()
	var out []journalEntry
	for line := range strings.Lines(string(readFile(t, path))) {
		var e journalEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s: %v: %q", path, err, line)
		}
		out = append(out, e)
	}
	return out
}
