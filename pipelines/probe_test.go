//go:build cgo && linux

package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// HostWarnings names the enabled pipelines whose journald source has no
// journal here, with the reason, and leaves the others alone.
func TestHostWarnings(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	cfgPath := filepath.Join(dir, "logjail.yaml")
	yaml := strings.NewReplacer("EMPTY", empty, "MISSING", missing, "LOG", filepath.Join(dir, "auth.log")).Replace(`
pipelines:
  a:
    enabled: true
    ingest:
      - file: {paths: [LOG]}
      - journald: {directory: EMPTY}
    match: {filter: sshd}
  b:
    enabled: true
    ingest:
      - journald: {directory: MISSING, match: [_SYSTEMD_UNIT=ssh.service]}
    match: {filter: sshd}
  off:
    enabled: false
    ingest:
      - journald: {directory: EMPTY}
    match: {filter: sshd}
`)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	got := HostWarnings(cfg)
	want := []string{
		cfgPath + ":7:9: pipeline a: journald source has no journal on this host: no journal files in " + empty + "; the pipeline reads nothing from it until a journal appears",
		cfgPath + ":12:9: pipeline b: journald source has no journal on this host: no journal: " + missing + " does not exist; the pipeline reads nothing from it until a journal appears",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
