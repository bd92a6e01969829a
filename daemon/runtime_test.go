package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/pipelines"
)

// newRuntimeRig runs a daemon with pipeline a (maxretry 3) of reloadYAML
// reading its log, and waits until a reads it.
func newRuntimeRig(t *testing.T) *reloadRig {
	t.Helper()
	dir := t.TempDir()
	r := &reloadRig{t: t, logA: filepath.Join(dir, "a.log"), cfgPath: filepath.Join(dir, "logjail.yaml"), reload: make(chan struct{})}
	if err := os.WriteFile(r.logA, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r.write(reloadYAML("1h", "", ""))
	cfg, err := pipelines.Load(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cl, stop := startDaemon(t, dir, Options{Config: cfg, ConfigPath: r.cfgPath, Reload: r.reload})
	r.stop = sync.OnceFunc(stop)
	t.Cleanup(r.stop)
	r.cl = cl
	waitSourceRead(t, cl, "a", r.logA, "sshd[1]: Server listening on :: port 22.")
	return r
}

func failed(n int, addr string) string {
	return fmt.Sprintf("sshd[%d]: Failed password for root from %s port %d ssh2", 100+n, addr, n)
}

// mustSet sets key in pipeline a and returns the answer.
func (r *reloadRig) mustSet(key, value string) SetResult {
	r.t.Helper()
	res, err := r.cl.Set(context.Background(), SetRequest{Pipeline: "a", Key: key, Value: value})
	if err != nil {
		r.t.Fatalf("set %s %s: %v", key, value, err)
	}
	return res
}

// A maxretry set at run time bans at the new count, the failures counted
// before it kept; status shows the override, and a reload returns to the
// file.
func TestSetMaxRetry(t *testing.T) {
	r := newRuntimeRig(t)
	bg := context.Background()
	if st, _ := r.cl.PipelineStatus(bg, "a"); st.Overrides == nil || len(st.Overrides) != 0 || st.State != "running" {
		t.Fatalf("before any set: state %q overrides %#v, want running and {}", st.State, st.Overrides)
	}
	appendLog(t, r.logA, failed(1, "198.51.100.7"))
	waitPipeline(t, r.cl, "a", "one failure", func(st PipelineStatus) bool { return st.Filter.TotalFailed == 1 })
	res := r.mustSet("maxretry", "2")
	if res.Value != float64(2) || res.Overrides["maxretry"] != float64(2) || res.Note != RuntimeOnly {
		t.Fatalf("set answered %+v", res)
	}
	appendLog(t, r.logA, failed(2, "198.51.100.7"))
	r.waitBans("the second failure bans at maxretry 2", func(bans []Ban) bool { return len(bans) == 1 && bans[0].Failures == 2 })
	if st, _ := r.cl.PipelineStatus(bg, "a"); st.Overrides["maxretry"] != float64(2) {
		t.Errorf("status overrides %v", st.Overrides)
	}

	if _, err := r.cl.Reload(bg); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.cl.PipelineStatus(bg, "a"); len(st.Overrides) != 0 {
		t.Errorf("after a reload: overrides %v, want none", st.Overrides)
	}
	if g, err := r.cl.Get(bg, "a", "maxretry"); err != nil || g.Value != float64(3) {
		t.Errorf("after a reload: maxretry %v (%v), want the file's 3", g.Value, err)
	}
}

// addignoreip lifts the bans the gate now refuses before it answers;
// delignoreip lets the address be banned again. Bad requests are refused
// with the status that says why.
func TestSetIgnoreIP(t *testing.T) {
	r := newRuntimeRig(t)
	bg := context.Background()
	if _, err := r.cl.Ban(bg, BanRequest{Pipeline: "a", Addr: "198.51.100.7"}); err != nil {
		t.Fatal(err)
	}
	res := r.mustSet("addignoreip", "198.51.100.0/24")
	if strings.Join(res.Lifted, ",") != "198.51.100.7" {
		t.Fatalf("lifted %v", res.Lifted)
	}
	if bans, _ := r.cl.Banned(bg); len(bans) != 0 {
		t.Fatalf("still banned after addignoreip: %+v", bans)
	}
	if _, err := r.cl.Ban(bg, BanRequest{Pipeline: "a", Addr: "198.51.100.7"}); err == nil || !strings.Contains(err.Error(), "ignoreip") {
		t.Fatalf("ban of an ignored address: %v", err)
	}
	r.mustSet("delignoreip", "198.51.100.0/24")
	if _, err := r.cl.Ban(bg, BanRequest{Pipeline: "a", Addr: "198.51.100.7"}); err != nil {
		t.Fatalf("ban after delignoreip: %v", err)
	}
	for _, tc := range []struct {
		req    SetRequest
		status int
		want   string
	}{
		{SetRequest{Pipeline: "a", Key: "findtime", Value: "10x"}, http.StatusBadRequest, `findtime: invalid duration "10x"`},
		{SetRequest{Pipeline: "a", Key: "usedns", Value: "no"}, http.StatusBadRequest, "usedns: unknown key"},
		{SetRequest{Pipeline: "nosuch", Key: "maxretry", Value: "2"}, http.StatusNotFound, `no pipeline "nosuch"`},
	} {
		_, err := r.cl.Set(bg, tc.req)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Msg, tc.want) {
			t.Errorf("set %+v: %v, want %d %q", tc.req, err, tc.status, tc.want)
		}
	}
}

// stop ends the sources and matching and keeps the bans; lines written
// while stopped are read at start, each counted once, the window and the
// set values carried over; stop --unban lifts the bans first; a reload
// starts a stopped pipeline.
func TestStopStart(t *testing.T) {
	r := newRuntimeRig(t)
	bg := context.Background()
	appendLog(t, r.logA, failed(1, "198.51.100.7"), failed(2, "198.51.100.7"))
	waitPipeline(t, r.cl, "a", "two failures", func(st PipelineStatus) bool { return st.Filter.TotalFailed == 2 })
	if _, err := r.cl.Ban(bg, BanRequest{Pipeline: "a", Addr: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	r.mustSet("bantime", "2h")
	if res, err := r.cl.Stop(bg, StopRequest{Pipeline: "a"}); err != nil || res.State != "stopped" {
		t.Fatalf("stop: %+v %v", res, err)
	}
	st, err := r.cl.PipelineStatus(bg, "a")
	if err != nil || st.State != "stopped" || st.Actions.CurrentlyBanned != 1 {
		t.Fatalf("stopped status: %+v %v", st, err)
	}
	if s, _ := r.cl.Status(bg); len(s.Pipelines) != 0 || strings.Join(s.Stopped, ",") != "a" {
		t.Fatalf("overview: %+v", s)
	}
	if f, err := r.cl.Failing(bg, "a"); err != nil || f["198.51.100.7"] != 2 {
		t.Errorf("failing of the stopped pipeline: %v %v, want 198.51.100.7: 2", f, err)
	}
	wantAPIError(t, "stop again", http.StatusConflict, "stopped already", func() error { _, err := r.cl.Stop(bg, StopRequest{Pipeline: "a"}); return err })
	wantAPIError(t, "set while stopped", http.StatusConflict, "start it first", func() error {
		_, err := r.cl.Set(bg, SetRequest{Pipeline: "a", Key: "maxretry", Value: "2"})
		return err
	})

	appendLog(t, r.logA, failed(3, "198.51.100.7"), "sshd[9]: Connection closed by 192.0.2.1")
	if res, err := r.cl.Start(bg, "a"); err != nil || res.State != "running" {
		t.Fatalf("start: %+v %v", res, err)
	}
	// Read counts the lines as the source reads them, before the runner
	// has counted their failures: wait for both.
	st = waitPipeline(t, r.cl, "a", "the two lines written while stopped", func(st PipelineStatus) bool {
		return len(st.Sources) == 1 && st.Sources[0].Read == 2 && st.Filter.TotalFailed >= 3 && st.Actions.CurrentlyBanned >= 2
	})
	if st.Filter.TotalFailed != 3 || st.Actions.CurrentlyBanned != 2 {
		t.Fatalf("after start: failed %d banned %d, want 3 (each line once) and 2 (the third failure bans)", st.Filter.TotalFailed, st.Actions.CurrentlyBanned)
	}
	// The runner's counts carry over as the tracker's totals do.
	if st.Filter.Matched != 3 {
		t.Errorf("after start: matched %d, want 3 (the lines before stop too)", st.Filter.Matched)
	}
	missed := st.Filter.Missed
	if g, err := r.cl.Get(bg, "a", "bantime"); err != nil || g.Value != "2h" || st.Overrides["bantime"] != "2h" {
		t.Errorf("the value set before stop, after start: %v (%v), overrides %v", g.Value, err, st.Overrides)
	}
	wantAPIError(t, "start again", http.StatusConflict, "running already", func() error { _, err := r.cl.Start(bg, "a"); return err })

	if res, err := r.cl.Stop(bg, StopRequest{Pipeline: "a", Unban: true}); err != nil || res.Unbanned != 2 {
		t.Fatalf("stop --unban: %+v %v", res, err)
	}
	if st, _ := r.cl.PipelineStatus(bg, "a"); st.Actions.CurrentlyBanned != 0 {
		t.Fatalf("bans kept by stop --unban: %+v", st.Actions)
	}
	if _, err := r.cl.Reload(bg); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.cl.Status(bg); strings.Join(s.Pipelines, ",") != "a" || len(s.Stopped) != 0 {
		t.Fatalf("after a reload: %+v", s)
	}
	if st, _ := r.cl.PipelineStatus(bg, "a"); st.Filter.Matched != 3 || st.Filter.Missed != missed {
		t.Errorf("after a reload of the stopped pipeline: matched %d missed %d, want 3 and %d", st.Filter.Matched, st.Filter.Missed, missed)
	}
}

func wantAPIError(t *testing.T, what string, status int, want string, do func() error) {
	t.Helper()
	var ae *APIError
	if err := do(); !errors.As(err, &ae) || ae.Status != status || !strings.Contains(ae.Msg, want) {
		t.Errorf("%s: %v, want %d %q", what, err, status, want)
	}
}

// A stopped pipeline's bans stay enforced, so they stay visible and can be
// changed: banned (the list and an address), explain and ban see them,
// marked stopped; unban ADDR, unban --all --pipeline and stop --unban lift
// them, stored, and a start finds them lifted; a ban whose time is up is
// gone from the answers as it is from the kernel.
func TestStoppedPipelineBans(t *testing.T) {
	r := newRuntimeRig(t)
	bg := context.Background()
	for _, b := range []BanRequest{{Pipeline: "a", Addr: "203.0.113.9"}, {Pipeline: "a", Addr: "203.0.113.8", For: "1s"}} {
		if _, err := r.cl.Ban(bg, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.cl.Stop(bg, StopRequest{Pipeline: "a"}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, func() error {
		bans, err := r.cl.Banned(bg)
		return testkit.Check(err == nil && len(bans) == 1 && bans[0].Addr == "203.0.113.9" && bans[0].PipelineStopped,
			"banned of a stopped pipeline: %+v %v; want 203.0.113.9 (stopped) once the 1s ban expired", bans, err)
	})
	found, err := r.cl.BannedAddrs(bg, []string{"203.0.113.9", "203.0.113.8"})
	if err != nil || len(found[0].Bans) != 1 || !found[0].Bans[0].PipelineStopped || len(found[1].Bans) != 0 {
		t.Fatalf("banned ADDR of a stopped pipeline: %+v %v", found, err)
	}
	for _, pipeline := range []string{"", "a"} {
		e, err := r.cl.Explain(bg, "203.0.113.9", pipeline)
		if err != nil || !e.Banned || len(e.Pipelines) != 1 || !e.Pipelines[0].Stopped || len(e.Pipelines[0].Bans) != 1 {
			t.Fatalf("explain --pipeline %q of a stopped pipeline's ban: %+v %v", pipeline, e, err)
		}
	}
	if b, err := r.cl.Ban(bg, BanRequest{Pipeline: "a", Addr: "203.0.113.10"}); err != nil || !b.PipelineStopped {
		t.Fatalf("ban in a stopped pipeline: %+v %v", b, err)
	}
	if res, err := r.cl.Unban(bg, UnbanRequest{Addr: "203.0.113.9"}); err != nil || strings.Join(res.Pipelines, ",") != "a" {
		t.Fatalf("unban ADDR of a stopped pipeline's ban: %+v %v", res, err)
	}
	if res, err := r.cl.Unban(bg, UnbanRequest{All: true, Pipeline: "a"}); err != nil || res.Count != 1 {
		t.Fatalf("unban --all --pipeline of a stopped pipeline: %+v %v, want 203.0.113.10 lifted", res, err)
	}
	if _, err := r.cl.Ban(bg, BanRequest{Pipeline: "a", Addr: "203.0.113.11"}); err != nil {
		t.Fatal(err)
	}
	if res, err := r.cl.Stop(bg, StopRequest{Pipeline: "a", Unban: true}); err != nil || res.Unbanned != 1 || res.State != "stopped" {
		t.Fatalf("stop --unban of a stopped pipeline: %+v %v", res, err)
	}
	wantAPIError(t, "stop of a stopped pipeline", http.StatusConflict, "stopped already", func() error { _, err := r.cl.Stop(bg, StopRequest{Pipeline: "a"}); return err })
	if _, err := r.cl.Start(bg, "a"); err != nil {
		t.Fatal(err)
	}
	if st, err := r.cl.PipelineStatus(bg, "a"); err != nil || st.Actions.CurrentlyBanned != 0 {
		t.Fatalf("after start: %+v %v, want the bans lifted while stopped to stay lifted", st.Actions, err)
	}
	r.stop()
	if stored, err := openStore(t, filepath.Dir(r.logA)).Bans("a"); err != nil || len(stored) != 0 {
		t.Fatalf("the store holds %+v (%v), want no ban", stored, err)
	}
}

// The values set show once each in status, as get reads them: a field of
// bantime_increment set after the increment shows in its object, not
// beside a stale copy of it.
func TestSetOverridesShown(t *testing.T) {
	r := newRuntimeRig(t)
	inc := func(o map[string]any) map[string]any { m, _ := o["bantime_increment"].(map[string]any); return m }
	if res := r.mustSet("bantime_increment", "true"); len(res.Overrides) != 1 || inc(res.Overrides)["factor"] != float64(1) {
		t.Fatalf("bantime_increment true: overrides %v", res.Overrides)
	}
	res := r.mustSet("bantime.factor", "2")
	if res.Key != "bantime_increment.factor" || res.Value != float64(2) {
		t.Fatalf("set bantime.factor answered %s = %v", res.Key, res.Value)
	}
	if len(res.Overrides) != 1 || inc(res.Overrides)["factor"] != float64(2) {
		t.Fatalf("after set bantime.factor 2: overrides %v, want bantime_increment's object with factor 2 only", res.Overrides)
	}
	r.mustSet("maxretry", "4")
	if st, err := r.cl.PipelineStatus(context.Background(), "a"); err != nil || len(st.Overrides) != 2 || inc(st.Overrides)["factor"] != float64(2) || st.Overrides["maxretry"] != float64(4) {
		t.Fatalf("status overrides %v (%v)", st.Overrides, err)
	}
	if res := r.mustSet("bantime_increment", "false"); len(res.Overrides) != 2 || res.Overrides["bantime_increment"] != nil {
		t.Fatalf("bantime_increment false: overrides %v", res.Overrides)
	}
}
