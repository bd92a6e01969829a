package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/state"
)

// Matched on several workers, a file's failures still reach the tracker
// in log order: the bans come in the order a single reader would decide
// them, each with its last lines in order, and the stored position is the
// file's end once all is committed. So with a logjail filter (its lines
// matched apart) and with a fail2ban one or a logjail one that tracks
// connections (its matching split, each line prepared and finished in
// order).
func TestMatchWorkersKeepLogOrder(t *testing.T) {
	for _, tc := range []struct{ name, match string }{
		{"logjail", "{failregex: ['^denied <HOST> n=\\d+$']}"},
		{"fail2ban", "{fail2ban: 'DIR/f.conf'}"},
		{"logjail, connections", "{failregex: ['^denied <HOST> n=<F-MLFID>\\d+</F-MLFID>$']}"},
	} {
		t.Run(tc.name, func(t *testing.T) { keepsLogOrder(t, tc.match) })
	}
}

// keepsLogOrder is TestMatchWorkersKeepLogOrder with the filter match
// (DIR: where f.conf, a fail2ban filter of the same failregex, is).
func keepsLogOrder(t *testing.T, filter string) {
	const (
		addrs    = 40
		maxretry = 150
		lines    = 20_000 // about 40 batches
	)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "o.log")
	testkit.WriteFile(t, dir, "f.conf", "[Definition]\nfailregex = ^denied <HOST> n=\\d+$\n")
	filter = strings.ReplaceAll(filter, "DIR", dir)
	c := loadConfig(t, dir, fmt.Sprintf("pipelines:\n  o:\n    enabled: true\n    maxretry: %d\n    findtime: 1d\n    ingest: [{file: {paths: [%q]}}]\n    match: %s\n", maxretry, logPath, filter))
	store := openStore(t, dir)
	rec := &decisions{}
	r, _ := buildRunner(t, c, store, rec)
	r.stage = newMatchStage(r.stages, r.now, 4)
	r.stage.initial = 4 // all at once, not on demand
	if r.stage.max != 4 {
		t.Fatalf("%d workers at most, want 4", r.stage.max)
	}
	if apart := strings.Contains(filter, "MLFID"); r.stage.apart != apart {
		// Connections without the last date: prepared by the workers.
		t.Errorf("prepared apart %v, want %v", r.stage.apart, apart)
	}

	text, want, failures := orderLog(lines, addrs, maxretry)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
	// Appearing after the source's first look, the file is read from
	// its beginning.
	testkit.WaitFor(t, 10*time.Second, func() error {
		st := r.stages.Sources[0].Stats()
		return testkit.Check(st.State == ingest.StateWaiting && st.Reason != "not started", "source %s: %s", st.State, st.Reason)
	})
	tmp := testkit.WriteFile(t, dir, "o.tmp", text)
	if err := os.Rename(tmp, logPath); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, time.Minute, func() error {
		var matched, missed, uncommitted uint64
		if err := r.call(ctx, func() { matched, missed, uncommitted = r.matched, r.missed, r.uncommitted }); err != nil {
			return err
		}
		return testkit.Check(matched == uint64(failures) && missed == uint64(lines-failures) && uncommitted == 0,
			"matched %d of %d, missed %d, %d uncommitted", matched, failures, missed, uncommitted)
	})
	cancel()
	<-r.done

	var got []string
	for _, d := range rec.got {
		if d.Kind != state.Ban {
			continue
		}
		got = append(got, d.Prefix.String())
		if !slices.IsSortedFunc(d.Lines, func(a, b string) int { return seqOf(t, a) - seqOf(t, b) }) {
			t.Errorf("ban of %s: lines out of order: %q", d.Prefix, d.Lines)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("bans in the order\n%v\nwant\n%v", got, want)
	}
	pos, err := store.Scoped("o").Position(logPath)
	if err != nil || !strings.HasPrefix(string(pos), fmt.Sprintf("1:%d:", len(text))) {
		t.Errorf("stored position %q (%v), want the file's end, offset %d", pos, err, len(text))
	}
}

// orderLog is the log of keepsLogOrder: every third line is another
// program's; the others fail for addrs addresses in an order no batch
// boundary lines up with. want lists the addresses in the order they
// reach maxretry.
func orderLog(lines, addrs, maxretry int) (log string, want []string, failures int) {
	var text strings.Builder
	counts := map[int]int{}
	for i := range lines {
		if i%3 == 2 {
			fmt.Fprintf(&text, "cron ran job n=%d\n", i)
			continue
		}
		a := (i*7919 + i/addrs) % addrs
		fmt.Fprintf(&text, "denied 203.0.113.%d n=%d\n", a+1, i)
		failures++
		if counts[a]++; counts[a] == maxretry {
			want = append(want, fmt.Sprintf("203.0.113.%d/32", a+1))
		}
	}
	return text.String(), want, failures
}

// seqOf is the n= number of a test line.
func seqOf(t *testing.T, line string) int {
	var n int
	if _, err := fmt.Sscanf(line[strings.LastIndex(line, "n="):], "n=%d", &n); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return n
}

// The stage starts with one worker, so an idle pipeline holds one
// matcher, and grows up to its maximum once batches wait for a worker; so
// may a fail2ban filter that reads one line at a time (it splits its
// matching, match.Splitter; its batches are prepared in order before
// they wait, so whether they wait depends on what costs more), while one
// with a multi-line buffer keeps one whatever comes.
func TestMatchStageGrowsOnDemand(t *testing.T) {
	for _, tc := range []struct {
		name        string
		filter      string
		init        string // the fail2ban filter's [Init]
		batches     int
		least, most int
		max         int // the stage's bound
	}{
		{"a lone batch", "{failregex: ['^denied <HOST>$']}", "", 1, 1, 1, 4},
		{"a backlog", "{failregex: ['^denied <HOST>$']}", "", 64, 2, 4, 4},
		{"a backlog, fail2ban dialect", "{fail2ban: 'DIR/f.conf'}", "", 64, 1, 4, 4},
		{"a backlog, fail2ban dialect, maxlines 2", "{fail2ban: 'DIR/f.conf'}", "maxlines = 2\n", 3, 1, 1, 1},
		{"a backlog, connections", "{failregex: ['^denied <F-MLFID><HOST></F-MLFID>$']}", "", 64, 1, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			testkit.WriteFile(t, dir, "f.conf", "[Init]\n"+tc.init+"[Definition]\nfailregex = ^denied <HOST>$\n")
			filter := strings.ReplaceAll(tc.filter, "DIR", dir)
			c := loadConfig(t, dir, fmt.Sprintf("pipelines:\n  g:\n    enabled: true\n    ingest: [{file: {paths: [%q]}}]\n    match: %s\n", filepath.Join(dir, "g.log"), filter))
			r, _ := buildRunner(t, c, openStore(t, dir), &decisions{})
			s := newMatchStage(r.stages, r.now, 4)
			in := make(chan []ingest.Entry, tc.batches)
			for range tc.batches {
				b := ingest.NewBatch()
				for i := range ingest.BatchSize {
					b = append(b, ingest.Entry{ReadAt: time.Now(), Message: fmt.Sprintf("denied 203.0.113.%d", i%200+1)})
				}
				in <- b
			}
			close(in)
			s.start(in)
			matched := 0
			for j := range s.order {
				s.next(j)
				matched += len(j.hits)
				s.taken(j)
			}
			if matched != tc.batches*ingest.BatchSize {
				t.Errorf("matched %d of %d", matched, tc.batches*ingest.BatchSize)
			}
			if split := strings.Contains(tc.filter, "fail2ban") && tc.max > 1 || strings.Contains(tc.filter, "MLFID"); split != (s.stream != nil) {
				t.Errorf("split %v, want %v", s.stream != nil, split)
			}
			if s.started < tc.least || s.started > tc.most || s.max != tc.max {
				t.Errorf("%d workers of at most %d, want %d to %d of %d", s.started, s.max, tc.least, tc.most, tc.max)
			}
		})
	}
}

// A logjail filter tracking connections, matched by several workers
// (each preparing and scanning its batches, the stage's first matcher
// finishing them in order: its connections), finds what one worker
// reading every line finds: a failure line takes the address its
// connection's earlier line, often in another batch, recorded.
func TestMatchStageConnectionsAsOneWorker(t *testing.T) {
	const filter = `{prefregex: '^h sshd\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$', ` +
		`failregex: ['^<F-NOFAIL>Connection from</F-NOFAIL> <HOST> port \d+$', '^Disconnecting: Too many authentication failures$']}`
	at := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	var batches [][]ingest.Entry
	for k := range 24 {
		b := ingest.NewBatch()
		for i := range ingest.BatchSize {
			n := k*ingest.BatchSize + i
			msg := fmt.Sprintf("h sshd[%d]: Connection from 192.0.2.%d port 22", n%41, n%200+1)
			if n%2 == 1 {
				msg = fmt.Sprintf("h sshd[%d]: Disconnecting: Too many authentication failures", (n*7)%41)
			}
			b = append(b, ingest.Entry{ReadAt: at, Message: msg})
		}
		batches = append(batches, b)
	}
	type result struct {
		at       int
		outcome  match.Outcome
		addr     string
		attempts int
	}
	run := func(workers int) []result {
		dir := t.TempDir()
		c := loadConfig(t, dir, fmt.Sprintf("pipelines:\n  g:\n    enabled: true\n    ingest: [{file: {paths: [%q]}}]\n    match: %s\n", filepath.Join(dir, "g.log"), filter))
		r, _ := buildRunner(t, c, openStore(t, dir), &decisions{})
		s := newMatchStage(r.stages, r.now, workers)
		s.initial = workers
		if apart := workers > 1; s.apart != apart {
			t.Fatalf("%d workers: prepared apart %v, want %v", workers, s.apart, apart)
		}
		in := make(chan []ingest.Entry, len(batches))
		for _, b := range batches {
			in <- slices.Clone(b)
		}
		close(in)
		s.start(in)
		var got []result
		base := 0
		for j := range s.order {
			s.next(j)
			for _, h := range j.hits {
				got = append(got, result{base + h.at, h.outcome, h.f.Addr.String(), h.f.Attempts})
			}
			base += len(j.entries)
			s.taken(j)
		}
		return got
	}
	one, four := run(1), run(4)
	counted := 0
	for _, h := range one {
		if h.outcome == match.Matched {
			counted++
		}
	}
	if counted == 0 {
		t.Fatal("nothing counted")
	}
	if !slices.Equal(one, four) {
		t.Errorf("4 workers: %d hits, one worker %d (or other outcomes, addresses)", len(four), len(one))
	}
}

// TestMatchStageCountsEvictions: connections dropped from a full table
// (more open connections than it holds) reach the pipeline's status, with
// one worker and with several (the stream's owner counts them).
func TestMatchStageCountsEvictions(t *testing.T) {
	const filter = `{prefregex: '^h sshd\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$', ` +
		`failregex: ['^<F-NOFAIL>Connection from</F-NOFAIL> <HOST> port \d+$', '^Disconnecting: Too many authentication failures$']}`
	const conns, over = 10_000, 300 // native's connTableSize
	at := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	var batches [][]ingest.Entry
	for n := 0; n < conns+over; {
		b := ingest.NewBatch()
		for ; len(b) < ingest.BatchSize && n < conns+over; n++ {
			b = append(b, ingest.Entry{ReadAt: at, Message: fmt.Sprintf("h sshd[%d]: Connection from 192.0.2.%d port 22", n, n%200+1)})
		}
		batches = append(batches, b)
	}
	for _, workers := range []int{1, 3} {
		dir := t.TempDir()
		c := loadConfig(t, dir, fmt.Sprintf("pipelines:\n  g:\n    enabled: true\n    ingest: [{file: {paths: [%q]}}]\n    match: %s\n", filepath.Join(dir, "g.log"), filter))
		r, _ := buildRunner(t, c, openStore(t, dir), &decisions{})
		s := newMatchStage(r.stages, r.now, workers)
		s.initial = workers
		in := make(chan []ingest.Entry, len(batches))
		for _, b := range batches {
			in <- slices.Clone(b)
		}
		close(in)
		s.start(in)
		for j := range s.order {
			s.next(j)
			r.applyJob(j)
			s.taken(j)
		}
		if st, _ := r.status(); st.Filter.ConnectionsEvicted != over {
			t.Errorf("%d workers: %d connections evicted, want %d", workers, st.Filter.ConnectionsEvicted, over)
		}
	}
}
