package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

// warnHandler keeps the daemon's warnings (with the attributes of their
// logger) and reports the metrics address like addrHandler.
type warnHandler struct {
	addrHandler
	attrs []slog.Attr
	mu    *sync.Mutex
	warns *[]map[string]string
}

func (h warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h warnHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level != slog.LevelWarn {
		return h.addrHandler.Handle(ctx, r)
	}
	m := map[string]string{"msg": r.Message}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.warns = append(*h.warns, m)
	h.mu.Unlock()
	return nil
}

// A line crafted to make a fail2ban regex backtrack without end: the
// match is cut at its limit, the line counts as timed out (not missed) in
// status and in logjail_regex_timeouts_total, and a warning names the
// pipeline, the regex and the line.
func TestRegexTimeoutCounted(t *testing.T) {
	dir := t.TempDir()
	logPath := testkit.WriteFile(t, dir, "slow.log", "")
	filter, err := filepath.Abs("testdata/backtracking.conf")
	if err != nil {
		t.Fatal(err)
	}
	c := loadConfig(t, dir, "pipelines:\n  slow:\n    enabled: true\n    ingest: [{file: {paths: ["+logPath+"], poll: 100ms}}]\n    match: {fail2ban: "+filter+"}\n")
	addrs := make(chan string, 1)
	var mu sync.Mutex
	var warns []map[string]string
	log := slog.New(warnHandler{addrHandler: addrHandler{addr: addrs}, mu: &mu, warns: &warns})
	cl, addr := runWithMetrics(t, dir, c, log, addrs)
	status := func() PipelineStatus {
		st, _ := cl.PipelineStatus(context.Background(), "slow")
		return st
	}
	waitSourceRead(t, cl, "slow", logPath, "nothing to see")
	crafted := strings.Repeat("x", 64) + " 192.0.2.1"
	appendLog(t, logPath, crafted, "xxy 192.0.2.7")
	waitPipeline(t, cl, "slow", "the failure after the crafted line", func(st PipelineStatus) bool { return st.Filter.Matched == 1 })

	st := status()
	if st.Filter.TimedOut != 1 || st.Filter.RegexTimeouts != 1 {
		t.Errorf("timed out %d, regex timeouts %d; want 1 and 1", st.Filter.TimedOut, st.Filter.RegexTimeouts)
	}
	if st.Filter.Missed != st.Sources[0].Read-2 {
		t.Errorf("missed %d of %d lines read: the timed-out line counts as missed", st.Filter.Missed, st.Sources[0].Read)
	}
	if got := sample(t, scrape(t, addr), `logjail_regex_timeouts_total{pipeline="slow"}`); got != 1 {
		t.Errorf("logjail_regex_timeouts_total = %v, want 1", got)
	}
	// More of them are counted, not logged again within the minute.
	appendLog(t, logPath, crafted, crafted)
	waitPipeline(t, cl, "slow", "three timeouts", func(st PipelineStatus) bool { return st.Filter.RegexTimeouts == 3 })
	mu.Lock()
	defer mu.Unlock()
	var found int
	for _, w := range warns {
		if strings.Contains(w["msg"], "regex ran out of time") {
			found++
			if w["pipeline"] != "slow" || w["regex"] != "failregex[0]" || !strings.Contains(w["line"], crafted) {
				t.Errorf("warning %v", w)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d warnings about timeouts, want 1 (rate-limited); warnings: %v", found, warns)
	}
}
