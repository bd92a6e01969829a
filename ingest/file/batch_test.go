package file

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
)

// Sent in batches, the lines come in order, at most BatchSize a batch,
// and the last entry of the file in every batch carries the cursor just
// after its line (the others may carry none): what the daemon stores is
// always where the batch ended, also across a rotation.
func TestRunBatches(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "")
	tl, err := New(testConfig(path), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cycles := make(chan struct{}, 1)
	tl.afterCycle = func() {
		select {
		case cycles <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []ingest.Entry)
	done := make(chan error, 1)
	go func() { done <- tl.RunBatches(ctx, out) }()
	<-cycles // the first scan: the empty file is followed from its end

	// Two writes of 1,500 lines, then a rotation and 700 more: several
	// batches, some of both files.
	var want []string
	ends := map[string]int64{} // line → the offset after it in its file
	write := func(first, n int, off int64) int64 {
		var b strings.Builder
		for i := range n {
			l := fmt.Sprintf("line %05d", first+i)
			b.WriteString(l + "\n")
			off += int64(len(l) + 1)
			want, ends[l] = append(want, l), off
		}
		appendFile(t, path, b.String())
		return off
	}
	off := write(0, 1500, 0)
	write(1500, 1500, off)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(3000, 700, 0)

	var got []string
	for len(got) < len(want) {
		var b []ingest.Entry
		select {
		case b = <-out:
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d lines", len(got), len(want))
		}
		if len(b) == 0 || len(b) > ingest.BatchSize {
			t.Fatalf("a batch of %d entries", len(b))
		}
		last := b[len(b)-1]
		c, err := ParseCursor(last.Pos.Value)
		if err != nil || c.Offset != ends[last.Message] {
			t.Errorf("batch ending with %q: cursor %+v (%v), want offset %d", last.Message, c, err, ends[last.Message])
		}
		for _, e := range b {
			got = append(got, e.Message)
		}
		ingest.Recycle(b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("lines out of order or changed: got %d, want %d", len(got), len(want))
	}
}
