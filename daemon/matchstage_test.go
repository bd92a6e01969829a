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

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
)

// Matched on several workers, a file's failures still reach the tracker
// in log order: the bans come in the order a single reader would decide
// them, each with its last lines in order, and the stored position is the
// file's end once all is committed.
func TestMatchWorkersKeepLogOrder(t *testing.T) {
	const (
		addrs    = 40
		maxretry = 150
		lines    = 20_000 // about 40 batches
	)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "o.log")
	c := loadConfig(t, dir, fmt.Sprintf("pipelines:\n  o:\n    enabled: true\n    maxretry: %d\n    findtime: 1d\n    ingest: [{file: {paths: [%q]}}]\n    match: {failregex: ['^denied <HOST> n=\\d+$']}\n", maxretry, logPath))
	store := openStore(t, dir)
	rec := &decisions{}
	r, _ := buildRunner(t, c, store, rec)
	r.stage = newMatchStage(r.stages, r.now, 4)
	if len(r.stage.workers) != 4 {
		t.Fatalf("%d workers, want 4", len(r.stage.workers))
	}

	// Every third line is another program's; the others fail for
	// addresses in an order no batch boundary lines up with.
	var text strings.Builder
	counts := map[int]int{}
	var want []string // addresses in the order they reach maxretry
	failures := 0
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
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
	// Appearing after the start, the file is read from its beginning.
	tmp := testkit.WriteFile(t, dir, "o.tmp", text.String())
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
	if err != nil || !strings.HasPrefix(string(pos), fmt.Sprintf("1:%d:", text.Len())) {
		t.Errorf("stored position %q (%v), want the file's end, offset %d", pos, err, text.Len())
	}
}

// seqOf is the n= number of a test line.
func seqOf(t *testing.T, line string) int {
	var n int
	if _, err := fmt.Sscanf(line[strings.LastIndex(line, "n="):], "n=%d", &n); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return n
}
