package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/internal/testkit"
)

const waitLimit = 10 * time.Second

type harness struct {
	t      *testing.T
	tail   *Tail
	pos    *testkit.Positions
	logs   *testkit.LogBuffer
	cancel context.CancelFunc
	done   chan error
	cycles atomic.Int64

	consumerDone chan struct{}

	mu  sync.Mutex
	got []ingest.Entry
}

// testConfig is fast enough that polling-only tests finish quickly.
func testConfig(paths ...string) Config {
	return Config{Paths: paths, Poll: 20 * time.Millisecond, RotateWait: 200 * time.Millisecond}
}

// modes runs a test with inotify and with polling alone.
func modes(t *testing.T, f func(t *testing.T, notify bool)) {
	for _, notify := range []bool{true, false} {
		name := "poll"
		if notify {
			name = "notify"
		}
		t.Run(name, func(t *testing.T) { f(t, notify) })
	}
}

// start runs a Tail and a consumer; it returns once the first scan is done,
// so that "start at end" has a well-defined end.
func start(t *testing.T, cfg Config, pos *testkit.Positions) *harness {
	t.Helper()
	if pos == nil {
		pos = &testkit.Positions{}
	}
	logs := &testkit.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tl, err := New(cfg, pos, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, tail: tl, pos: pos, logs: logs, done: make(chan error, 1), consumerDone: make(chan struct{})}
	tl.afterCycle = func() { h.cycles.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	out := make(chan ingest.Entry) // unbuffered: every send is backpressured
	go func() { h.done <- tl.Run(ctx, out) }()
	go func() {
		for {
			select {
			case e := <-out:
				_ = tl.Stats() // concurrent with the Run goroutine's updates
				pos.Commit(e.Pos.Key, e.Pos.Value)
				h.mu.Lock()
				h.got = append(h.got, e)
				h.mu.Unlock()
			case <-ctx.Done():
				close(h.consumerDone)
				return
			}
		}
	}()
	t.Cleanup(h.stop)
	h.waitUntil("first scan", func() bool { return h.cycles.Load() >= 1 })
	return h
}

func (h *harness) stop() {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v", err)
		}
		h.done <- nil // later stops return at once
	case <-time.After(waitLimit):
		h.t.Fatal("Run did not return after cancel")
	}
	<-h.consumerDone
	if h.t.Failed() {
		h.t.Logf("log output:\n%s", h.logs)
	}
}

func (h *harness) waitUntil(what string, cond func() bool) {
	h.t.Helper()
	testkit.WaitFor(h.t, waitLimit, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("waiting for %s; got %q", what, h.messages())
	})
}

// settle waits until the Tail has completed a full cycle that began after
// this call, so that "nothing more arrived" is a real observation.
func (h *harness) settle() {
	h.t.Helper()
	c := h.cycles.Load()
	h.waitUntil("a full cycle", func() bool { return h.cycles.Load() >= c+2 })
}

func (h *harness) entries() []ingest.Entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

func (h *harness) messages() []string {
	var m []string
	for _, e := range h.entries() {
		m = append(m, e.Message)
	}
	return m
}

// expect waits for exactly want (in order), then checks nothing else comes.
func (h *harness) expect(want ...string) {
	h.t.Helper()
	h.waitUntil(fmt.Sprintf("%d lines", len(want)), func() bool { return len(h.messages()) >= len(want) })
	h.settle()
	if got := h.messages(); !slices.Equal(got, want) {
		h.t.Fatalf("lines = %q, want %q", got, want)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, s); err != nil {
		t.Fatal(err)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return idOf(fi).ino
}

func TestStartAtEnd(t *testing.T) {
	tests := []struct {
		name     string
		existing string
		appended string
		want     []string
	}{
		{"whole lines", "old1\nold2\n", "new1\nnew2\n", []string{"new1", "new2"}},
		{"empty file", "", "new1\n", []string{"new1"}},
		// The tail of a line half-written at start must not pass as a line.
		{"mid line", "old1\nhalf", "-line\nnew1\n", []string{"new1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, tt.existing)
			h := start(t, testConfig(path), nil)
			appendFile(t, path, tt.appended)
			h.expect(tt.want...)
		})
	}
}

func TestEntryFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	h := start(t, testConfig(path), nil)
	before := time.Now()
	appendFile(t, path, "one\ntwo\n")
	h.expect("one", "two")
	for i, e := range h.entries() {
		if e.ReadAt.Before(before) || !e.Time.IsZero() {
			t.Errorf("entry %d: ReadAt %v, Time %v", i, e.ReadAt, e.Time)
		}
		if e.Pos.Key != path {
			t.Errorf("entry %d: key %q, want %q", i, e.Pos.Key, path)
		}
		c, err := ParseCursor(e.Pos.Value)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		want := Cursor{Offset: int64(4 * (i + 1)), Ino: inode(t, path), HeadLen: 4 * (i + 1)}
		want.Dev = c.Dev
		want.HeadSum = headSum([]byte("one\ntwo\n"[:want.HeadLen]))
		if c != want {
			t.Errorf("entry %d: cursor %+v, want %+v", i, c, want)
		}
		if !bytes.Equal(c.Encode(), e.Pos.Value) {
			t.Errorf("entry %d: Encode %q != emitted %q", i, c.Encode(), e.Pos.Value)
		}
	}
	if s := h.tail.Stats(); s.Read != 2 || s.Skipped != 0 || s.Errors != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "old\n")
	pos := &testkit.Positions{}

	h := start(t, testConfig(path), pos)
	appendFile(t, path, "a\n")
	h.expect("a")
	h.stop()

	appendFile(t, path, "b\nc\n") // written while not running

	h2 := start(t, testConfig(path), pos)
	appendFile(t, path, "d\n")
	h2.expect("b", "c", "d")
}

func TestResumeLongFile(t *testing.T) {
	// The fingerprint covers a full KiB once the file is that long.
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	pos := &testkit.Positions{}
	h := start(t, testConfig(path), pos)
	var want []string
	var sb strings.Builder
	for i := range 100 {
		fmt.Fprintf(&sb, "line %03d padding padding\n", i)
		want = append(want, fmt.Sprintf("line %03d padding padding", i))
	}
	appendFile(t, path, sb.String())
	h.expect(want...)
	h.stop()
	v, _ := pos.Position(path)
	c, err := ParseCursor(v)
	if err != nil || c.HeadLen != headSize {
		t.Fatalf("cursor %+v, %v", c, err)
	}
	appendFile(t, path, "after\n")
	h2 := start(t, testConfig(path), pos)
	h2.expect("after")
}

func TestReplacedReadsFromStart(t *testing.T) {
	tests := []struct {
		name      string
		replace   func(t *testing.T, path string)
		sameInode bool
		want      []string
	}{
		{
			name: "new inode",
			replace: func(t *testing.T, path string) {
				// Created before the old one goes, so the inode differs.
				writeFile(t, path+".tmp", "r1\nr2\n")
				if err := os.Rename(path+".tmp", path); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"r1", "r2"},
		},
		{
			name: "same inode, other first bytes",
			replace: func(t *testing.T, path string) {
				writeFile(t, path, "FIRST\nSECOND\nTHIRD\nFOURTH\nFIFTH\n")
			},
			sameInode: true,
			want:      []string{"FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH"},
		},
		{
			name: "shrunk below offset",
			replace: func(t *testing.T, path string) {
				writeFile(t, path, "first\n")
			},
			sameInode: true,
			want:      []string{"first"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, "first\nsecond\n")
			ino := inode(t, path)
			pos := &testkit.Positions{}
			h := start(t, testConfig(path), pos)
			appendFile(t, path, "third\n")
			h.expect("third")
			h.stop()

			tt.replace(t, path)
			if got := inode(t, path) == ino; got != tt.sameInode {
				t.Fatalf("same inode = %v, want %v", got, tt.sameInode)
			}
			h2 := start(t, testConfig(path), pos)
			h2.expect(tt.want...)
		})
	}
}

func TestBadStoredPosition(t *testing.T) {
	// An unreadable position is treated as none: start at the end.
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "old\n")
	pos := &testkit.Positions{}
	pos.Commit(path, []byte("garbage"))
	h := start(t, testConfig(path), pos)
	appendFile(t, path, "new\n")
	h.expect("new")
	if s := h.tail.Stats(); s.Errors != 1 {
		t.Errorf("Errors = %d, want 1", s.Errors)
	}
}

func TestRotateRenameCreate(t *testing.T) {
	modes(t, func(t *testing.T, notify bool) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "a0\n")
		cfg := testConfig(path)
		cfg.DisableNotify = !notify
		cfg.RotateWait = time.Second // far longer than the settle below
		h := start(t, cfg, nil)

		// A writer holding the file open, as a syslog daemon would.
		old, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		fmt.Fprint(old, "a1\na2\n")
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(old, "a3\n") // written after the rename, before reopening
		writeFile(t, path, "b1\nb2\n")
		// Once the new file is being read the rotation has been seen; the
		// old writer is still going for a while.
		h.waitUntil("b2", func() bool { return slices.Contains(h.messages(), "b2") })
		h.settle()
		fmt.Fprint(old, "a4\nunterminated") // the writer stops mid-line
		appendFile(t, path, "b3\n")

		want := []string{"a1", "a2", "a3", "a4", "unterminated", "b1", "b2", "b3"}
		h.waitUntil("all lines", func() bool { return len(h.messages()) >= len(want) })
		h.settle()
		got := h.messages()
		if !sameSet(got, want) {
			t.Fatalf("lines = %q, want (any interleaving) %q", got, want)
		}
		// Each file's lines arrive in file order.
		if !inOrder(got, "a1", "a2", "a3", "a4", "unterminated") || !inOrder(got, "b1", "b2", "b3") {
			t.Fatalf("lines out of order: %q", got)
		}
	})
}

func TestRotateMatchedByGlob(t *testing.T) {
	// With app.log* the rotated file is still matched: it must be followed
	// on under its new name, not read again from the start.
	modes(t, func(t *testing.T, notify bool) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.log")
		writeFile(t, path, "")
		cfg := testConfig(filepath.Join(dir, "app.log*"))
		cfg.DisableNotify = !notify
		h := start(t, cfg, nil)
		appendFile(t, path, "a1\n")
		h.expect("a1")

		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, "b1\n")
		h.waitUntil("b1", func() bool { return slices.Contains(h.messages(), "b1") })
		appendFile(t, path+".1", "a2\n")
		h.expect("a1", "b1", "a2")
		last := h.entries()[2]
		if last.Pos.Key != path+".1" {
			t.Errorf("key of line from rotated file = %q, want %q", last.Pos.Key, path+".1")
		}
	})
}

func TestCopyTruncate(t *testing.T) {
	tests := []struct {
		name     string
		rewrite  string
		settle   bool // let the Tail look at the empty file first
		want     []string
		wantSkip uint64
	}{
		{name: "shorter", rewrite: "c\n", want: []string{"c"}},
		{name: "longer after a look", rewrite: "c123456789\nd123456789\n", settle: true, want: []string{"c123456789", "d123456789"}},
		// Truncated and refilled past the offset between two looks: only
		// the first bytes tell.
		{name: "longer at once", rewrite: "c123456789\nd123456789\n", want: []string{"c123456789", "d123456789"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modes(t, func(t *testing.T, notify bool) {
				path := filepath.Join(t.TempDir(), "app.log")
				writeFile(t, path, "x\n")
				cfg := testConfig(path)
				cfg.DisableNotify = !notify
				h := start(t, cfg, nil)
				appendFile(t, path, "a\nb\n")
				h.expect("a", "b")

				ino := inode(t, path)
				if tt.settle {
					if err := os.Truncate(path, 0); err != nil {
						t.Fatal(err)
					}
					h.settle()
					appendFile(t, path, tt.rewrite)
				} else {
					// O_TRUNC and the write come as close together as possible.
					writeFile(t, path, tt.rewrite)
				}
				if inode(t, path) != ino {
					t.Fatal("inode changed")
				}
				h.expect(append([]string{"a", "b"}, tt.want...)...)
			})
		})
	}
}

func TestCopyTruncateDropsHeldPartial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	cfg := testConfig(path)
	h := start(t, cfg, nil)
	appendFile(t, path, "a\npart")
	h.expect("a")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	h.settle()
	appendFile(t, path, "new\n")
	h.expect("a", "new")
	if s := h.tail.Stats(); s.Skipped != 1 {
		t.Errorf("Skipped = %d, want 1 (the dropped partial line)", s.Skipped)
	}
}

func TestGlobNewFile(t *testing.T) {
	modes(t, func(t *testing.T, notify bool) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "a.log"), "old\n")
		cfg := testConfig(filepath.Join(dir, "*.log"))
		cfg.DisableNotify = !notify
		h := start(t, cfg, nil)

		writeFile(t, filepath.Join(dir, "b.txt"), "not matched\n")
		writeFile(t, filepath.Join(dir, "b.log"), "b1\nb2\n")
		h.waitUntil("b.log", func() bool { return len(h.messages()) >= 2 })
		appendFile(t, filepath.Join(dir, "a.log"), "a1\n")
		h.expect("b1", "b2", "a1")
		if k := h.entries()[0].Pos.Key; k != filepath.Join(dir, "b.log") {
			t.Errorf("key %q", k)
		}
	})
}

func TestMissingFileAppears(t *testing.T) {
	modes(t, func(t *testing.T, notify bool) {
		dir := filepath.Join(t.TempDir(), "sub") // the directory is missing too
		path := filepath.Join(dir, "app.log")
		cfg := testConfig(path)
		cfg.DisableNotify = !notify
		h := start(t, cfg, nil)
		h.settle()
		h.settle()
		if n := strings.Count(h.logs.String(), "missing; waiting"); n != 1 {
			t.Fatalf("missing warning logged %d times, want 1:\n%s", n, h.logs)
		}
		if s := h.tail.Stats(); s.Errors != 1 {
			t.Errorf("Errors = %d, want 1", s.Errors)
		}

		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, "x1\nx2\n") // appeared later: read from its start
		h.expect("x1", "x2")
		appendFile(t, path, "x3\n")
		h.expect("x1", "x2", "x3")
	})
}

func TestLongLine(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name   string
		writes []string // each write is followed by a settle
	}{
		{"one write", []string{"before\n" + big + "\nafter\n"}},
		{"in pieces", []string{"before\n" + big[:100], big[100 : 600<<10], big[600<<10:] + "\nafter\n"}},
		{"at end of file", []string{"before\n" + big, "\nafter\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, "")
			h := start(t, testConfig(path), nil)
			for _, w := range tt.writes {
				appendFile(t, path, w)
				h.settle()
			}
			h.expect("before", "after")
			if s := h.tail.Stats(); s.Skipped != 1 || s.Read != 2 {
				t.Errorf("stats %+v, want Skipped 1, Read 2", s)
			}
		})
	}
}

func TestMaxLineBoundary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	cfg := testConfig(path)
	cfg.MaxLine = 10
	h := start(t, cfg, nil)
	appendFile(t, path, "0123456789\n01234567890\nok\n0123")
	h.settle()
	appendFile(t, path, "456789\n0123")
	h.settle()
	appendFile(t, path, "4567890\nend\n")
	h.expect("0123456789", "ok", "0123456789", "end")
	if s := h.tail.Stats(); s.Skipped != 2 {
		t.Errorf("Skipped = %d, want 2", s.Skipped)
	}
}

func TestBadBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	h := start(t, testConfig(path), nil)
	appendFile(t, path, "a\xffb\nx\x00y\nwin\r\n\x00\x00\x00\n\xc3\x28\xe2\x82\nok\n")
	h.expect("a\uFFFDb", "xy", "win", "", "\uFFFD(\uFFFD", "ok")
	if s := h.tail.Stats(); s.Skipped != 0 {
		t.Errorf("Skipped = %d", s.Skipped)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"crlf\r", "crlf"},
		{"only last\r\r", "only last\r"},
		{"nul\x00in\x00side", "nulinside"},
		{"bad \xff\xfe bytes", "bad \uFFFD bytes"},
		{"trunc \xe2\x82", "trunc \uFFFD"},
		{"ünïcödé", "ünïcödé"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := sanitize([]byte(tt.in)); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPartialLineHeld(t *testing.T) {
	modes(t, func(t *testing.T, notify bool) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "")
		cfg := testConfig(path)
		cfg.DisableNotify = !notify
		h := start(t, cfg, nil)
		appendFile(t, path, "hel")
		h.settle()
		if got := h.messages(); len(got) != 0 {
			t.Fatalf("half line emitted: %q", got)
		}
		appendFile(t, path, "lo\nwor")
		h.expect("hello")
		appendFile(t, path, "ld\n")
		h.expect("hello", "world")
	})
}

func TestPartialLineNotCommitted(t *testing.T) {
	// A position never points into a held line, so a restart re-reads it.
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	pos := &testkit.Positions{}
	h := start(t, testConfig(path), pos)
	appendFile(t, path, "one\ntw")
	h.expect("one")
	h.stop()
	appendFile(t, path, "o\n")
	h2 := start(t, testConfig(path), pos)
	h2.expect("two")
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name    string
		blocked bool // the consumer never reads
	}{
		{"idle", false},
		{"blocked on send", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, "")
			tl, err := New(testConfig(path), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var cycles atomic.Int64
			tl.afterCycle = func() { cycles.Add(1) }
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			out := make(chan ingest.Entry)
			go func() { done <- tl.Run(ctx, out) }()
			deadline := time.Now().Add(waitLimit)
			for cycles.Load() < 1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if tt.blocked {
				appendFile(t, path, strings.Repeat("line\n", 1000))
				// Take one line so Run is surely sending, then never
				// read again: Run is left blocked on the next send.
				select {
				case e := <-out:
					if e.Message != "line" {
						t.Fatalf("got %q", e.Message)
					}
				case <-time.After(waitLimit):
					t.Fatal("no line")
				}
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
			case <-time.After(time.Second):
				t.Fatal("Run did not return within 1s of cancel")
			}
		})
	}
}

func TestFIFOIgnored(t *testing.T) {
	// A FIFO where a log is expected must neither hang nor be read.
	dir := t.TempDir()
	fifo := filepath.Join(dir, "evil.log")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal("mkfifo:", err)
	}
	writeFile(t, filepath.Join(dir, "ok.log"), "")
	cfg := testConfig(filepath.Join(dir, "*.log"), fifo)
	h := start(t, cfg, nil)
	appendFile(t, filepath.Join(dir, "ok.log"), "fine\n")
	h.expect("fine")
	if !strings.Contains(h.logs.String(), "not a regular file") {
		t.Errorf("no warning about the FIFO:\n%s", h.logs)
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	// keys are the keys of every error New reports (nil: none); each
	// error carries its key, so the configuration loader points at it.
	tests := []struct {
		name string
		cfg  Config
		keys []string
	}{
		{"no paths", Config{}, []string{"paths"}},
		{"empty path", Config{Paths: []string{""}}, []string{"paths"}},
		{"bad glob", Config{Paths: []string{"/var/log/[.log"}}, []string{"paths"}},
		{"negative poll", Config{Paths: []string{"/x"}, Poll: -1}, []string{"poll"}},
		{"negative max line", Config{Paths: []string{"/x"}, MaxLine: -1}, []string{"max_line"}},
		{"every bad key", Config{Paths: []string{"/x", ""}, Poll: -1, MaxLine: -1, MaxFiles: -1}, []string{"poll", "max_line", "max_files", "paths"}},
		{"ok", Config{Paths: []string{"/var/log/auth.log", "/var/log/*.log", "/var/log/auth.log"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl, err := New(tt.cfg, nil, nil)
			keys := keyerr.Keys(err)
			if !slices.Equal(keys, tt.keys) {
				t.Fatalf("err = %v: keys %q, want %q", err, keys, tt.keys)
			}
			if err != nil {
				return
			}
			if d := tl.Describe(); d != "file /var/log/auth.log, /var/log/*.log" {
				t.Errorf("Describe = %q", d)
			}
			if tl.cfg.Poll != defaultPoll || tl.cfg.MaxLine != defaultMaxLine || tl.cfg.RotateWait != defaultRotateWait {
				t.Errorf("defaults not applied: %+v", tl.cfg)
			}
		})
	}
	// Relative paths become absolute: the Position key must not depend on
	// the working directory.
	t.Chdir(dir)
	tl, err := New(Config{Paths: []string{"rel.log"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "file " + filepath.Join(dir, "rel.log"); tl.Describe() != want {
		t.Errorf("Describe = %q, want %q", tl.Describe(), want)
	}
}

func TestRunTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	h := start(t, testConfig(path), nil)
	err := h.tail.Run(context.Background(), make(chan ingest.Entry))
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("second concurrent Run = %v, want an error", err)
	}
}

func sameSet(got, want []string) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// inOrder reports whether seq appears in got in that relative order.
func inOrder(got []string, seq ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(seq) && g == seq[i] {
			i++
		}
	}
	return i == len(seq)
}
