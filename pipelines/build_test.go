package pipelines

import (
	"os"
	"path/filepath"
	"testing"
)

// BuildWithoutSources builds what counts and decides, and nothing that
// reads: a bans source needs the daemon's bus, which Build refuses
// without, and a syslog source would listen.
func TestBuildWithoutSources(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logjail.yaml")
	if err := os.WriteFile(path, []byte(`
pipelines:
  recidive:
    enabled: true
    ingest:
      - bans: {pipelines: [sshd]}
      - syslog: {listen: "udp://127.0.0.1:5514"}
    match: {filter: recidive}
    maxretry: 3
  sshd:
    enabled: true
    ingest: [{file: {paths: [/var/log/auth.log]}}]
    match: {filter: sshd}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines[0]
	if _, err := Build(p, Deps{Log: discard}); err == nil {
		t.Fatal("Build of a bans source without a bus: no error")
	}
	st, err := BuildWithoutSources(p, Deps{Log: discard})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sources != nil || st.Matcher == nil || st.Tracker == nil || st.Tracker.Policy().MaxRetry != 3 {
		t.Fatalf("stages %+v: want a matcher and a tracker with maxretry 3, no sources", st)
	}
	if _, err := BuildWithoutSources(&Pipeline{Name: "x", Enabled: true}, Deps{Log: discard}); err == nil {
		t.Fatal("an unresolved pipeline built")
	}
}
