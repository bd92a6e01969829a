package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

var exportConfig = e2ePipeline("maxretry: 3", "bantime: 1h", fileSource, sshdFilter)

func exportRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), err
}

// exportedBans reads the bans section of an export document.
func exportedBans(t *testing.T, doc []byte) []map[string]any {
	t.Helper()
	var d struct {
		Version int              `json:"logjail_state"`
		Bans    []map[string]any `json:"bans"`
	}
	if err := json.Unmarshal(doc, &d); err != nil || d.Version != 1 {
		t.Fatalf("not an export (%v):\n%s", err, doc)
	}
	return d.Bans
}

// Bans survive a move: exported from a running logjail, imported into
// another state dir while logjail is stopped, restored by the next start.
// Runs without privileges: the daemons are dry runs.
func TestExportImportMovesBans(t *testing.T) {
	t.Parallel()
	s := newSetup(t, exportConfig)
	first := s.start(t, nil)
	until := manualBans(t, s.socket)
	file, doc := exportThroughSocket(t, s)

	// The running logjail's store is not imported into.
	out, err := exportRun(t, "import", file, "--state-dir", s.stateDir, "--dry-run")
	if err == nil || !strings.Contains(out, "logjail is running (state store in "+filepath.Join(s.stateDir, "dry-run")+" locked): stop it, import, start it") {
		t.Fatalf("import into a running logjail's store: want refusal, got %v:\n%s", err, out)
	}

	waitCommitted(t, 5*time.Second, s.socket)
	first.kill()
	first.cmd.Process.Wait()

	// Stopped: export reads the store itself, and finds what the daemon gave.
	offline, err := exec.Command(binary, "export", "--socket", s.socket, "--state-dir", s.stateDir, "--dry-run").Output()
	if err != nil {
		t.Fatalf("logjail export (stopped): %v", err)
	}
	a, _ := json.Marshal(exportedBans(t, offline))
	b, _ := json.Marshal(exportedBans(t, doc))
	if string(a) != string(b) {
		t.Errorf("export of the stopped store:\n%s\nwant as through the socket:\n%s", a, b)
	}

	// A document with a bad record is refused, naming the record.
	bad := testkit.WriteFile(t, t.TempDir(), "bad.json", strings.Replace(string(doc), `"prefix":"198.51.100.7/32"`, `"prefix":"198.51.100.777/32"`, 1))
	moved := newSetup(t, exportConfig)
	out, err = exportRun(t, "import", bad, "--state-dir", moved.stateDir, "--dry-run")
	if err == nil || !strings.Contains(out, `prefix "198.51.100.777/32"`) || !strings.Contains(out, "bans[") {
		t.Fatalf("import of a bad document: want refusal naming the record, got %v:\n%s", err, out)
	}

	out, err = exportRun(t, "import", file, "--state-dir", moved.stateDir, "--dry-run")
	if err != nil || !strings.Contains(out, "imported "+file+": 2 bans, 2 history records") || !strings.Contains(out, "pipelines: e2e") {
		t.Fatalf("logjail import: %v\n%s", err, out)
	}
	moved.start(t, nil)
	checkMovedBans(t, banned(t, moved.socket), until)
}

// manualBans bans 198.51.100.7 (for the bantime) and 2001:db8::7 (for 2h)
// by hand, and returns when each ban ends.
func manualBans(t *testing.T, socket string) (until map[string]time.Time) {
	t.Helper()
	until = map[string]time.Time{}
	for _, b := range [][]string{{"198.51.100.7"}, {"2001:db8::7", "--for", "2h"}} {
		out, err := exec.Command(binary, append([]string{"ban", "e2e", "--json", "--socket", socket}, b...)...).Output()
		if err != nil {
			t.Fatalf("logjail ban %s: %v", b[0], err)
		}
		var ban daemon.Ban
		if err := json.Unmarshal(out, &ban); err != nil || ban.Until == nil {
			t.Fatalf("logjail ban %s: %v\n%s", b[0], err, out)
		}
		until[ban.Addr] = *ban.Until
	}
	return until
}

// exportThroughSocket exports the running logjail's two bans to a file
// and to stdout; the state dir given does not even exist. It returns the
// file and its content.
func exportThroughSocket(t *testing.T, s *setup) (file string, doc []byte) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "state.json")
	out, err := exportRun(t, "export", "-o", file, "--socket", s.socket, "--state-dir", filepath.Join(s.dir, "nosuch"))
	if err != nil || !strings.Contains(out, "exported 2 bans, 2 history records") || !strings.Contains(out, "from the running logjail") {
		t.Fatalf("logjail export -o: %v\n%s", err, out)
	}
	doc, err = os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bans := exportedBans(t, doc); len(bans) != 2 {
		t.Fatalf("exported bans %v, want 2", bans)
	}
	stdout, err := exec.Command(binary, "export", "--socket", s.socket).Output()
	if err != nil {
		t.Fatalf("logjail export: %v", err)
	}
	if bans := exportedBans(t, stdout); len(bans) != 2 {
		t.Fatalf("exported bans %v, want 2", bans)
	}
	return file, doc
}

// checkMovedBans: the moved logjail holds the two bans, each ending when
// it did before the move.
func checkMovedBans(t *testing.T, bans []daemon.Ban, until map[string]time.Time) {
	t.Helper()
	if len(bans) != 2 {
		t.Fatalf("after the move want 2 bans, got %+v", bans)
	}
	for _, b := range bans {
		want, ok := until[b.Addr]
		if !ok || b.Until == nil || !b.Until.Equal(want) {
			t.Errorf("ban %+v: want until %s", b, want)
			continue
		}
		left := time.Duration(b.RemainingS) * time.Second
		if expect := time.Until(want); left < expect-5*time.Second || left > expect+5*time.Second {
			t.Errorf("%s: %s left, want about %s", b.Addr, left, expect.Round(time.Second))
		}
		if b.Addr == "2001:db8::7" && b.RemainingS < 7000 {
			t.Errorf("%s: %ds left, want about 2h", b.Addr, b.RemainingS)
		}
	}
}
