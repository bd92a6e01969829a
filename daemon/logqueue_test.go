package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogQueueOrder sends more records than a logQueue holds through it,
// from one goroutine, to a slow handler: every one comes out, in order,
// each as the handler would write it directly; one handled after stop is
// written at once, after the others.
func TestLogQueueOrder(t *testing.T) {
	var out bytes.Buffer
	h := &slowHandler{h: slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})}
	q := startLogQueue()
	n := logQueueMax*2 + 17
	for i := range n {
		rec := slog.NewRecord(time.Now(), slog.LevelInfo, "found", 0)
		rec.AddAttrs(slog.Int("i", i))
		q.handle(h, rec)
	}
	q.stop()
	last := slog.NewRecord(time.Now(), slog.LevelInfo, "after", 0)
	q.handle(h, last)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != n+1 {
		t.Fatalf("%d lines written, want %d", len(lines), n+1)
	}
	for i, l := range lines[:n] {
		if want := fmt.Sprintf("level=INFO msg=found i=%d", i); l != want {
			t.Fatalf("line %d: %q, want %q", i, l, want)
		}
	}
	if lines[n] != "level=INFO msg=after" {
		t.Errorf("last line %q", lines[n])
	}
}

// slowHandler is a handler that takes a while now and then, so the
// queue fills up.
type slowHandler struct {
	mu sync.Mutex
	n  int
	h  slog.Handler
}

func (s *slowHandler) Enabled(context.Context, slog.Level) bool { return true }

func (s *slowHandler) Handle(ctx context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n++; s.n%4096 == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	return s.h.Handle(ctx, r)
}

func (s *slowHandler) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *slowHandler) WithGroup(string) slog.Handler      { return s }
