package simulate

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The summaries and a ban's lines: a long binary line is skipped and
// counted, and the line numbers after it are the log's.
func TestReportLinesAndSummary(t *testing.T) {
	const a = "203.0.113.7"
	long := "\xff\x00" + strings.Repeat("\xfe", 300)
	log := []string{failed(0, a), long, "not a failure", failed(time.Second, a), failed(2*time.Second, "192.0.2.9")}
	r := simulate(t, sshdConfig("maxretry: 2", "bantime: 1h", "ignoreip: [192.0.2.0/24]"), log, Options{})

	if want := []LogSummary{{Path: "auth.log", Lines: 5, Skipped: 1}}; !slices.Equal(r.Logs, want) {
		t.Errorf("logs %+v, want %+v", r.Logs, want)
	}
	if len(r.Pipelines) != 1 {
		t.Fatalf("pipelines %+v, want sshd alone", r.Pipelines)
	}
	p := r.Pipelines[0]
	if p.Lines != 4 || p.Matched != 3 || p.Failures != 3 || p.Bans != 1 || p.Refused["ignoreip"] != 1 || len(p.Logs) != 1 || len(p.Follows) != 0 {
		t.Errorf("sshd's summary %+v: want 4 lines, 3 matched, 3 failures, 1 refused by ignoreip, 1 ban", p)
	}
	if len(r.Bans) != 1 {
		t.Fatalf("bans %+v, want one", r.Bans)
	}
	b := r.Bans[0]
	wantLines := []Line{{"auth.log", 1, log[0]}, {"auth.log", 4, log[3]}}
	until := t0.Add(time.Second + time.Hour)
	if !slices.Equal(b.Lines, wantLines) || b.Until == nil || !b.Until.Equal(until) || b.BanTimeS != 3600 || b.Prefix != 32 || b.Failures != 2 || b.Reason == "" {
		t.Errorf("ban %+v: want until %s, 3600 s, /32, 2 failures, lines %+v", b, until, wantLines)
	}
}

// A permanent ban has no end; a report without bans has empty lists,
// never null.
func TestReportJSON(t *testing.T) {
	r := simulate(t, sshdConfig("maxretry: 1", "bantime: -1"), []string{failed(0, "203.0.113.7")}, Options{})
	out, err := json.Marshal(r.Bans[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); !strings.Contains(s, `"until":null`) || !strings.Contains(s, `"bantime_s":-1`) {
		t.Errorf("permanent ban %s: want until null, bantime_s -1", s)
	}
	r = simulate(t, sshdConfig("maxretry: 5"), []string{"nothing"}, Options{})
	out, err = json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "null") || !strings.Contains(s, `"bans":[]`) || !strings.Contains(s, `"refused":{}`) {
		t.Errorf("report %s: want empty lists and maps, no null", s)
	}
}

func TestSelectPipelines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		given []string
		want  []string
		err   string
	}{
		{"every enabled pipeline, in the configuration's order", nil, []string{"recidive", "sshd"}, ""},
		{"one", []string{"sshd"}, []string{"sshd"}, ""},
		{"recidive brings what it follows", []string{"recidive"}, []string{"recidive", "sshd"}, ""},
		{"unknown", []string{"nginx"}, nil, "--pipeline nginx: no enabled pipeline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t, recidiveConfig("maxretry: 2"))
			got, err := selectPipelines(cfg, tc.given)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("pipelines %v, want %v", names, tc.want)
			}
		})
	}
}

// A pipeline whose only source is a bans source reads no LOG: the
// recidive filter never runs on sshd's log.
func TestBansOnlyPipelineReadsNoLog(t *testing.T) {
	r := simulate(t, recidiveConfig("maxretry: 1", "bantime: 1m"), []string{failed(0, "203.0.113.7")}, Options{Pipelines: []string{"recidive"}})
	rec := r.Pipelines[0]
	if rec.Pipeline != "recidive" || rec.Lines != 0 || len(rec.Logs) != 0 || !slices.Equal(rec.Follows, []string{"sshd"}) || rec.Failures != 1 {
		t.Fatalf("recidive's summary %+v: want no lines, no logs, following sshd, one failure (sshd's ban)", rec)
	}
}

// A line without a date takes the time of the last failure before it in
// its LOG, or the LOG's modification time (t0+1h in simulate) before any.
func TestDatelessLines(t *testing.T) {
	const a = "203.0.113.7"
	config := "pipelines:\n  x:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/x.log]}}]\n    match: {failregex: ['x from <HOST>$']}\n    maxretry: 2\n    bantime: 1h\n    ignoreself: false\n"
	minute := t0.Add(time.Minute)
	stamp := minute.Local().Format(time.Stamp) // no year, no zone: local time
	for _, tc := range []struct {
		name string
		log  []string
		now  time.Time
		want time.Time
	}{
		{"after a dated failure", []string{minute.Format(time.RFC3339) + " x from " + a, "x from " + a}, time.Time{}, minute},
		{"before any", []string{"x from " + a, "x from " + a}, time.Time{}, t0.Add(time.Hour)},
		{"before any, Options.Now", []string{"x from " + a, "x from " + a}, t0.Add(2 * time.Hour), t0.Add(2 * time.Hour)},
		{"no year: the modification time's", []string{stamp + " x from " + a, stamp + " x from " + a}, time.Time{}, minute},
		{"no year: Options.Now's", []string{stamp + " x from " + a, stamp + " x from " + a}, t0.AddDate(1, 0, 1), minute.Local().AddDate(1, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate(t, config, tc.log, Options{Now: tc.now})
			if len(r.Bans) != 1 || !r.Bans[0].Time.Equal(tc.want) {
				t.Fatalf("bans %+v, want one at %s", r.Bans, tc.want)
			}
		})
	}
}

// A LOG that is not a regular file is an error, and a FIFO is not waited
// on.
func TestLogNotARegularFile(t *testing.T) {
	cfg := loadConfig(t, sshdConfig("maxretry: 2"))
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, fifo, filepath.Join(dir, "missing.log")} {
		if _, err := Run(cfg, Options{Logs: []string{path}}); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming it", path, err)
		}
	}
}
