package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/pipelines"
)

func appendLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintf(f, "%s srv %s\n", time.Now().Format(time.Stamp), l)
	}
}

// Reload keeps the windows and bans of pipelines that stay, lifts the bans
// of removed ones, starts new ones, and refuses a broken configuration
// (file:line:column) while the running one stays.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	logA := filepath.Join(dir, "a.log")
	os.WriteFile(logA, nil, 0o600)
	cfgPath := filepath.Join(dir, "logjail.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(body, "LOGA", logA)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`
pipelines:
  a:
    enabled: true
    maxretry: 3
    bantime: 1h
    ingest: [{file: {paths: [LOGA], poll: 100ms}}]
    match: {filter: sshd}
  b:
    enabled: true
    ingest: [{file: {paths: [LOGA], poll: 100ms}}]
    match: {failregex: ['^nothing <HOST>$']}
`)
	cfg, err := pipelines.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	reload := make(chan struct{})
	cl, stop := startDaemon(t, dir, Options{Config: cfg, ConfigPath: cfgPath, Reload: reload})
	defer stop()
	bg := context.Background()
	read := func(p string) uint64 {
		st, err := cl.PipelineStatus(bg, p)
		if err != nil || len(st.Sources) == 0 {
			return 0
		}
		return st.Sources[0].Read
	}
	testkit.Eventually(t, 10*time.Second, "a reads", func() bool {
		appendLog(t, logA, "sshd[1]: Server listening on :: port 22.")
		return read("a") > 0
	})
	appendLog(t, logA,
		"sshd[2]: Failed password for root from 198.51.100.7 port 1 ssh2",
		"sshd[3]: Failed password for root from 198.51.100.7 port 2 ssh2")
	testkit.Eventually(t, 10*time.Second, "two failures counted", func() bool {
		st, err := cl.PipelineStatus(bg, "a")
		return err == nil && st.Filter.TotalFailed == 2
	})
	if _, err := cl.Ban(bg, BanRequest{Pipeline: "b", Addr: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}

	// A broken configuration is refused; nothing changes.
	write("pipelines:\n  a:\n    enabled: true\n    maxretry: many\n")
	if _, err := cl.Reload(bg); err == nil || !strings.Contains(err.Error(), "logjail.yaml:4:15: pipelines.a.maxretry") {
		t.Fatalf("broken reload: %v", err)
	}
	if st, _ := cl.Status(bg); strings.Join(st.Pipelines, ",") != "a,b" {
		t.Fatalf("after a refused reload: %v", st.Pipelines)
	}

	// b removed, c added, a's bantime changed: a keeps its window.
	write(`
pipelines:
  a:
    enabled: true
    maxretry: 3
    bantime: 2h
    ingest: [{file: {paths: [LOGA], poll: 100ms}}]
    match: {filter: sshd}
  c:
    enabled: true
    ingest: [{file: {paths: [LOGA], poll: 100ms}}]
    match: {failregex: ['^other <HOST>$']}
`)
	st, err := cl.Reload(bg)
	if err != nil || strings.Join(st.Pipelines, ",") != "a,c" {
		t.Fatalf("reload: %v %v", st, err)
	}
	if bans, _ := cl.Banned(bg); len(bans) != 0 {
		t.Fatalf("the removed pipeline's ban stayed: %+v", bans)
	}
	appendLog(t, logA, "sshd[4]: Failed password for root from 198.51.100.7 port 3 ssh2")
	testkit.Eventually(t, 10*time.Second, "third failure bans with the new bantime", func() bool {
		bans, _ := cl.Banned(bg)
		return len(bans) == 1 && bans[0].Addr == "198.51.100.7" && bans[0].RemainingS > 3600
	})

	// SIGHUP's path: the Reload channel.
	write(`
pipelines:
  a:
    enabled: true
    maxretry: 3
    bantime: 2h
    ingest: [{file: {paths: [LOGA], poll: 100ms}}]
    match: {filter: sshd}
`)
	reload <- struct{}{}
	testkit.Eventually(t, 10*time.Second, "SIGHUP reload", func() bool {
		st, err := cl.Status(bg)
		return err == nil && strings.Join(st.Pipelines, ",") == "a"
	})
	if bans, _ := cl.Banned(bg); len(bans) != 1 {
		t.Fatalf("a's ban lost in the reload: %+v", bans)
	}
}
