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

// reloadYAML is TestReload's configuration: pipeline a with bantime,
// and, unless other is empty, a pipeline other with failregex.
func reloadYAML(bantime, other, failregex string) string {
	y := `pipelines:
  a:
    enabled: true
    maxretry: 3
    bantime: ` + bantime + `
    ingest: [{file: {paths: [LOGA], poll: 100ms}}]
    match: {filter: sshd}
`
	if other != "" {
		y += "  " + other + `:
    enabled: true
    ingest: [{file: {paths: [LOGA], poll: 100ms}}]
    match: {failregex: ['` + failregex + `']}
`
	}
	return y
}

// reloadRig is a daemon TestReload rewrites the configuration of.
type reloadRig struct {
	t       *testing.T
	logA    string
	cfgPath string
	cl      *Client
	reload  chan struct{}
	// stop ends the daemon (newRuntimeRig's; once, whoever calls it).
	stop func()
}

// write replaces the configuration file, LOGA standing for the log.
func (r *reloadRig) write(body string) {
	r.t.Helper()
	if err := os.WriteFile(r.cfgPath, []byte(strings.ReplaceAll(body, "LOGA", r.logA)), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// waitBans waits for the daemon's bans to satisfy ok, and fails showing
// the bans it saw.
func (r *reloadRig) waitBans(what string, ok func([]Ban) bool) {
	r.t.Helper()
	testkit.WaitFor(r.t, 10*time.Second, func() error {
		bans, err := r.cl.Banned(context.Background())
		return testkit.Check(err == nil && ok(bans), "still waiting for %s: bans %+v (%v)", what, bans, err)
	})
}

// Reload keeps the windows and bans of pipelines that stay, lifts the bans
// of removed ones, starts new ones, and refuses a broken configuration
// (file:line:column) while the running one stays.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	r := &reloadRig{t: t, logA: filepath.Join(dir, "a.log"), cfgPath: filepath.Join(dir, "logjail.yaml"), reload: make(chan struct{})}
	os.WriteFile(r.logA, nil, 0o600)
	r.write(reloadYAML("1h", "b", "^nothing <HOST>$"))
	cfg, err := pipelines.Load(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cl, stop := startDaemon(t, dir, Options{Config: cfg, ConfigPath: r.cfgPath, Reload: r.reload})
	defer stop()
	r.cl = cl
	bg := context.Background()
	waitSourceRead(t, cl, "a", r.logA, "sshd[1]: Server listening on :: port 22.")
	appendLog(t, r.logA,
		"sshd[2]: Failed password for root from 198.51.100.7 port 1 ssh2",
		"sshd[3]: Failed password for root from 198.51.100.7 port 2 ssh2")
	waitPipeline(t, cl, "a", "two failures counted", func(st PipelineStatus) bool { return st.Filter.TotalFailed == 2 })
	if _, err := cl.Ban(bg, BanRequest{Pipeline: "b", Addr: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}

	// A broken configuration is refused; nothing changes.
	r.write("pipelines:\n  a:\n    enabled: true\n    maxretry: many\n")
	if _, err := cl.Reload(bg); err == nil || !strings.Contains(err.Error(), "logjail.yaml:4:15: pipelines.a.maxretry") {
		t.Fatalf("broken reload: %v", err)
	}
	if st, _ := cl.Status(bg); strings.Join(st.Pipelines, ",") != "a,b" {
		t.Fatalf("after a refused reload: %v", st.Pipelines)
	}
	reloadChanges(r)

	// SIGHUP's path: the Reload channel.
	r.write(reloadYAML("2h", "", ""))
	r.reload <- struct{}{}
	testkit.WaitFor(t, 10*time.Second, func() error {
		st, err := cl.Status(bg)
		return testkit.Check(err == nil && strings.Join(st.Pipelines, ",") == "a", "SIGHUP reload: pipelines %v (%v)", st.Pipelines, err)
	})
	if bans, _ := cl.Banned(bg); len(bans) != 1 {
		t.Fatalf("a's ban lost in the reload: %+v", bans)
	}
	reloadIgnores(r)
}

// reloadIgnores: the banned address added to a's ignoreip, the windows'
// shape unchanged: the reload lifts its ban.
func reloadIgnores(r *reloadRig) {
	t, bg := r.t, context.Background()
	r.write(strings.Replace(reloadYAML("2h", "", ""), "    bantime:", "    ignoreip: [198.51.100.7]\n    bantime:", 1))
	if _, err := r.cl.Reload(bg); err != nil {
		t.Fatal(err)
	}
	if bans, err := r.cl.Banned(bg); err != nil || len(bans) != 0 {
		t.Fatalf("the ban of an address now in ignoreip stayed: %+v (%v)", bans, err)
	}
}

// reloadChanges: b removed, c added, a's bantime changed: a keeps its
// window.
func reloadChanges(r *reloadRig) {
	t, bg := r.t, context.Background()
	r.write(reloadYAML("2h", "c", "^other <HOST>$"))
	st, err := r.cl.Reload(bg)
	if err != nil || strings.Join(st.Pipelines, ",") != "a,c" {
		t.Fatalf("reload: %v %v", st, err)
	}
	if bans, _ := r.cl.Banned(bg); len(bans) != 0 {
		t.Fatalf("the removed pipeline's ban stayed: %+v", bans)
	}
	appendLog(t, r.logA, "sshd[4]: Failed password for root from 198.51.100.7 port 3 ssh2")
	r.waitBans("third failure bans with the new bantime", func(bans []Ban) bool {
		return len(bans) == 1 && bans[0].Addr == "198.51.100.7" && bans[0].RemainingS > 3600
	})
}

// waitSourceRead appends line to log until pipeline p's first source has
// read something (a file is followed from its end), and fails showing the
// sources it saw.
func waitSourceRead(t *testing.T, cl *Client, p, log, line string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, func() error {
		appendLog(t, log, line)
		st, err := cl.PipelineStatus(context.Background(), p)
		return testkit.Check(err == nil && len(st.Sources) > 0 && st.Sources[0].Read > 0, "%s reads: sources %+v (%v)", p, st.Sources, err)
	})
}

// waitPipeline waits for pipeline p's status to satisfy ok, and fails
// showing the status it saw.
func waitPipeline(t *testing.T, cl *Client, p, what string, ok func(PipelineStatus) bool) PipelineStatus {
	t.Helper()
	var st PipelineStatus
	testkit.WaitFor(t, 10*time.Second, func() error {
		var err error
		st, err = cl.PipelineStatus(context.Background(), p)
		return testkit.Check(err == nil && ok(st), "still waiting for %s: %s status %+v (%v)", what, p, st, err)
	})
	return st
}
