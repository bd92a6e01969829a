//go:build cgo && linux

package journald

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

// The journals here are real: written by systemd-journal-remote from the
// journal export format, read by libsystemd.

const (
	bootID   = "0123456789abcdef0123456789abcdef"
	deadline = 15 * time.Second
)

// journalRemote finds systemd-journal-remote; without it the test is
// skipped, or fails when CI=true.
func journalRemote(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("systemd-journal-remote"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/lib/systemd/systemd-journal-remote", "/lib/systemd/systemd-journal-remote"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	testkit.Missing(tb, "systemd-journal-remote is missing (apt-get install systemd-journal-remote)")
	return ""
}

// rec is one entry to write: field names and values, in order.
type rec []string

// msg is an entry with a unit and a message.
func msg(unit, text string, more ...string) rec {
	return append(rec{"_SYSTEMD_UNIT", unit, "MESSAGE", text}, more...)
}

// clock hands out strictly increasing timestamps, as journald would: one
// per entry, shared by every journal a test writes.
type clock struct {
	mu   sync.Mutex
	usec int64
}

func newClock() *clock { return &clock{usec: time.Now().Add(-time.Hour).UnixMicro()} }

func (c *clock) tick() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.usec += 1000
	return c.usec
}

// export renders recs in the journal export format, each with realtime and
// monotonic timestamps and a boot ID. Values holding a newline or not
// printable take the binary form.
func (c *clock) export(recs ...rec) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		usec := c.tick()
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n", usec, usec-1_500_000_000_000_000, bootID)
		for i := 0; i+1 < len(r); i += 2 {
			k, v := r[i], r[i+1]
			if strings.ContainsRune(v, '\n') || strings.IndexFunc(v, func(r rune) bool { return r < ' ' || r == '\uFFFD' }) >= 0 || !isASCII(v) {
				b.WriteString(k + "\n")
				_ = binary.Write(&b, binary.LittleEndian, uint64(len(v)))
				b.WriteString(v + "\n")
				continue
			}
			b.WriteString(k + "=" + v + "\n")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// writeExport makes systemd-journal-remote write export data into the
// journal file path (appending when it exists).
func writeExport(tb testing.TB, path string, data []byte) {
	tb.Helper()
	cmd := exec.Command(journalRemote(tb), "--output="+path, "--split-mode=none", "-")
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

func (c *clock) write(tb testing.TB, path string, recs ...rec) {
	tb.Helper()
	writeExport(tb, path, c.export(recs...))
}

// live is a systemd-journal-remote that keeps running, writing what it is
// fed into one journal file: a journal growing while it is followed.
type live struct {
	c   *clock
	in  io.WriteCloser
	cmd *exec.Cmd
	out bytes.Buffer
}

func startLive(t *testing.T, c *clock, path string) *live {
	l := &live{c: c, cmd: exec.Command(journalRemote(t), "--output="+path, "--split-mode=none", "-")}
	l.cmd.Stdout, l.cmd.Stderr = &l.out, &l.out
	in, err := l.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.in = in
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.close(t) })
	return l
}

func (l *live) write(t *testing.T, recs ...rec) {
	t.Helper()
	if _, err := l.in.Write(l.c.export(recs...)); err != nil {
		t.Fatal(err)
	}
}

func (l *live) close(t *testing.T) {
	if l.in == nil {
		return
	}
	l.in.Close()
	l.in = nil
	if err := l.cmd.Wait(); err != nil {
		t.Errorf("systemd-journal-remote: %v\n%s", err, l.out.String())
	}
}

// running is a Journal being run by a test.
type running struct {
	j      *Journal
	out    chan ingest.Entry
	ready  chan struct{}
	cancel context.CancelFunc
	done   chan error
	logs   *testkit.LogBuffer
	once   sync.Once
}

type option func(*Journal)

var fromHead option = func(j *Journal) { j.startAtHead = true }

func start(t *testing.T, cfg Config, pos ingest.Positions, opts ...option) *running {
	t.Helper()
	logs := &testkit.LogBuffer{}
	j, err := New(cfg, pos, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	j.retry = 20 * time.Millisecond
	r := &running{j: j, out: make(chan ingest.Entry), ready: make(chan struct{}, 64), done: make(chan error, 1), logs: logs}
	j.onReady = func() {
		select {
		case r.ready <- struct{}{}:
		default:
		}
	}
	for _, o := range opts {
		o(j)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- j.Run(ctx, r.out) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("log of %s:\n%s", j.Describe(), logs.String())
		}
	})
	return r
}

// waitReady waits until the journal is open and positioned.
func (r *running) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-r.ready:
	case err := <-r.done:
		t.Fatalf("Run returned %v before the journal was ready", err)
	case <-time.After(deadline):
		t.Fatalf("journal not ready after %v", deadline)
	}
}

// recv takes n entries, failing after the deadline.
func (r *running) recv(t *testing.T, n int) []ingest.Entry {
	t.Helper()
	var got []ingest.Entry
	timeout := time.After(deadline)
	for len(got) < n {
		select {
		case e := <-r.out:
			got = append(got, e)
		case err := <-r.done:
			t.Fatalf("Run returned %v after %d of %d entries: %q", err, len(got), n, messages(got))
		case <-timeout:
			t.Fatalf("got %d of %d entries in %v: %q", len(got), n, deadline, messages(got))
		}
	}
	return got
}

// until takes entries up to and including the one whose message is last.
func (r *running) until(t *testing.T, last string) []ingest.Entry {
	t.Helper()
	var got []ingest.Entry
	timeout := time.After(deadline)
	for {
		select {
		case e := <-r.out:
			got = append(got, e)
			if strings.HasSuffix(e.Message, last) {
				return got
			}
		case err := <-r.done:
			t.Fatalf("Run returned %v waiting for %q; got %q", err, last, messages(got))
		case <-timeout:
			t.Fatalf("no %q in %v; got %q", last, deadline, messages(got))
		}
	}
}

// stop cancels Run and checks that it returns nil promptly.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return within 5s of cancellation")
		}
	})
}

// waitLog polls the log until it holds text.
func waitLog(t *testing.T, r *running, text string) {
	t.Helper()
	testkit.WaitFor(t, deadline, func() error {
		logs := r.logs.String()
		return testkit.Check(strings.Contains(logs, text), "no %q logged:\n%s", text, logs)
	})
}

// messages returns the MESSAGE part of each entry ("HOST IDENT[PID]: " cut).
func messages(es []ingest.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		m := e.Message
		if _, after, ok := strings.Cut(m, ": "); ok {
			m = after
		}
		out[i] = m
	}
	return out
}

func wantMessages(t *testing.T, got []ingest.Entry, want ...string) {
	t.Helper()
	if m := messages(got); !slices.Equal(m, want) {
		t.Fatalf("got %q, want %q", m, want)
	}
}

func TestMatch(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	first := []rec{
		msg("ssh.service", "a1"),
		msg("sshd.service", "b1"),
		msg("cron.service", "c1"),
	}
	second := []rec{
		msg("ssh.service", "a2", "PRIORITY", "3"),
		msg("nginx.service", "n1"),
		msg("sshd.service", "b2"),
		msg("none", "end", "END", "1"),
	}
	c.write(t, filepath.Join(dir, "one.journal"), first...)
	c.write(t, filepath.Join(dir, "two.journal"), second...)
	// The same entries again in a single file.
	file := filepath.Join(t.TempDir(), "all.journal")
	writeExport(t, file, newClock().export(append(slices.Clone(first), second...)...))

	for _, tc := range []struct {
		name  string
		match []string
		want  []string
	}{
		{"or", []string{"_SYSTEMD_UNIT=ssh.service", "+", "_SYSTEMD_UNIT=sshd.service"}, []string{"a1", "b1", "a2", "b2"}},
		{"one unit", []string{"_SYSTEMD_UNIT=cron.service"}, []string{"c1"}},
		{"and", []string{"_SYSTEMD_UNIT=ssh.service", "PRIORITY=3"}, []string{"a2"}},
		{"same field is or", []string{"_SYSTEMD_UNIT=cron.service", "_SYSTEMD_UNIT=nginx.service"}, []string{"c1", "n1"}},
		{"none", nil, []string{"a1", "b1", "c1", "a2", "n1", "b2"}},
	} {
		// The sentinel group ends each read without waiting for silence.
		match := tc.match
		if len(match) > 0 {
			match = append(slices.Clone(match), "+", "END=1")
		}
		for _, src := range []struct {
			name string
			cfg  Config
		}{
			{"files", Config{Files: []string{file}, Match: match}},
			{"directory", Config{Directory: dir, Match: match}},
		} {
			t.Run(tc.name+"/"+src.name, func(t *testing.T) {
				r := start(t, src.cfg, nil, fromHead)
				got := r.until(t, "end")
				wantMessages(t, got[:len(got)-1], tc.want...)
				for _, e := range got {
					if e.Fields["_SYSTEMD_UNIT"] == "" {
						t.Errorf("entry %q without _SYSTEMD_UNIT field", e.Message)
					}
				}
			})
		}
	}
}

func TestEntry(t *testing.T) {
	c := newClock()
	file := filepath.Join(t.TempDir(), "e.journal")
	source := time.Date(2026, 11, 25, 7, 13, 18, 123456000, time.UTC)
	big := strings.Repeat("y", MaxField+1)
	data := c.export(
		rec{"_HOSTNAME", "web1", "SYSLOG_IDENTIFIER", "sshd", "SYSLOG_PID", "123", "_COMM", "sshd-session", "_PID", "999",
			"_SOURCE_REALTIME_TIMESTAMP", strconv.FormatInt(source.UnixMicro(), 10), "_SYSTEMD_UNIT", "ssh.service",
			"MESSAGE", "Failed password for root from 192.0.2.1 port 22 ssh2", "BIG", big},
		rec{"_HOSTNAME", "web1", "_COMM", "cron", "_PID", "55", "MESSAGE", "m2"},
		rec{"SYSLOG_IDENTIFIER", "kernel", "MESSAGE", "m3"},
		rec{"_HOSTNAME", "h", "MESSAGE", "m4", "_SOURCE_REALTIME_TIMESTAMP", "garbage"},
		// What a relay or a careless program writes around the text
		// never reaches the filters.
		rec{"_HOSTNAME", "vm", "SYSLOG_IDENTIFIER", "sshd", "_PID", "4001",
			"MESSAGE", " \uFEFFFailed password for root from 192.0.2.10 port 52000 ssh2\r\n"},
	)
	writeExport(t, file, data)
	// The realtime timestamps the clock gave entries 2 to 4.
	rt := realtimes(data)

	before := time.Now()
	r := start(t, Config{Files: []string{file}}, nil, fromHead)
	got := r.recv(t, 5)
	after := time.Now()

	for i, want := range []struct {
		msg  string
		host string
		time time.Time
	}{
		{"web1 sshd[123]: Failed password for root from 192.0.2.1 port 22 ssh2", "web1", source},
		{"web1 cron[55]: m2", "web1", rt[1]},
		{"kernel: m3", "", rt[2]},
		{"h m4", "h", rt[3]},
		{"vm sshd[4001]: Failed password for root from 192.0.2.10 port 52000 ssh2", "vm", rt[4]},
	} {
		e := got[i]
		if e.Message != want.msg || e.Host != want.host || !e.Time.Equal(want.time) {
			t.Errorf("entry %d: %q host %q at %v; want %q host %q at %v", i, e.Message, e.Host, e.Time, want.msg, want.host, want.time)
		}
		if e.ReadAt.Before(before) || e.ReadAt.After(after) {
			t.Errorf("entry %d: ReadAt %v outside the read", i, e.ReadAt)
		}
		if e.Pos.Key != r.j.Key() || !bytes.HasPrefix(e.Pos.Value, []byte("s=")) {
			t.Errorf("entry %d: position %q %q", i, e.Pos.Key, e.Pos.Value)
		}
	}
	f := got[0].Fields
	if f["_SYSTEMD_UNIT"] != "ssh.service" || f["_COMM"] != "sshd-session" || f["_PID"] != "999" {
		t.Errorf("fields: %v", f)
	}
	for _, k := range []string{"MESSAGE", "BIG"} {
		if _, has := f[k]; has {
			t.Errorf("field %s kept", k)
		}
	}

	checkCursor(t, file, string(got[1].Pos.Value), "m2")
	if s := r.j.Stats(); s.Read != 5 || s.Skipped != 0 || s.Errors != 0 {
		t.Errorf("stats %+v", s)
	}
}

// realtimes are the __REALTIME_TIMESTAMPs of an export, in order.
func realtimes(data []byte) []time.Time {
	var rt []time.Time
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "__REALTIME_TIMESTAMP="); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			rt = append(rt, time.UnixMicro(n))
		}
	}
	return rt
}

// checkCursor: the position is the entry's own cursor; it leads to the
// entry with MESSAGE msg.
func checkCursor(t *testing.T, file, cursor, msg string) {
	t.Helper()
	sd, err := sdjournal.NewJournalFromFiles(file)
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	if err := sd.SeekCursor(cursor); err != nil {
		t.Fatal(err)
	}
	if n, err := sd.Next(); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if m, _ := sd.GetDataValue("MESSAGE"); m != msg || sd.TestCursor(cursor) != nil {
		t.Errorf("cursor of %s leads to %q", msg, m)
	}
}

func TestFollow(t *testing.T) {
	t.Run("directory gains a file", func(t *testing.T) {
		c := newClock()
		dir := t.TempDir()
		c.write(t, filepath.Join(dir, "old.journal"), msg("ssh.service", "old"))
		r := start(t, Config{Directory: dir, Match: []string{"_SYSTEMD_UNIT=ssh.service"}}, nil)
		r.waitReady(t)
		l := startLive(t, c, filepath.Join(dir, "live.journal"))
		for i := range 5 {
			// Each entry must arrive while the writer keeps running.
			l.write(t, msg("cron.service", "other"), msg("ssh.service", fmt.Sprint("live", i)))
			wantMessages(t, r.recv(t, 1), fmt.Sprint("live", i))
		}
	})
	t.Run("file is appended to", func(t *testing.T) {
		c := newClock()
		file := filepath.Join(t.TempDir(), "f.journal")
		c.write(t, file, msg("ssh.service", "old"))
		r := start(t, Config{Files: []string{file}}, nil)
		r.waitReady(t)
		for i := range 3 {
			c.write(t, file, msg("ssh.service", fmt.Sprint("appended", i)))
			wantMessages(t, r.recv(t, 1), fmt.Sprint("appended", i))
		}
	})
	t.Run("file written while followed", func(t *testing.T) {
		c := newClock()
		file := filepath.Join(t.TempDir(), "f.journal")
		// The file does not exist yet: the source retries opening it,
		// then reads it whole, as a journal new to it.
		r := start(t, Config{Files: []string{file}}, nil)
		waitLog(t, r, "cannot read the journal")
		l := startLive(t, c, file)
		l.write(t, msg("ssh.service", "first"))
		wantMessages(t, r.recv(t, 1), "first")
		for i := range 3 {
			l.write(t, msg("ssh.service", fmt.Sprint("live", i)))
			wantMessages(t, r.recv(t, 1), fmt.Sprint("live", i))
		}
	})
}

func TestStartsAtTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		pos  ingest.Positions
		errs uint64
	}{
		{"no positions", nil, 0},
		{"nothing stored", &testkit.Positions{}, 0},
		{"positions fail", &testkit.Positions{Err: errors.New("store unreadable")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			file := filepath.Join(t.TempDir(), "f.journal")
			c.write(t, file, msg("ssh.service", "old1"), msg("ssh.service", "old2"))
			r := start(t, Config{Files: []string{file}}, tc.pos)
			r.waitReady(t)
			c.write(t, file, msg("ssh.service", "new1"), msg("ssh.service", "new2"))
			wantMessages(t, r.recv(t, 2), "new1", "new2")
			if s := r.j.Stats(); s.Errors != tc.errs {
				t.Errorf("errors %d, want %d", s.Errors, tc.errs)
			}
		})
	}
	t.Run("empty journal", func(t *testing.T) {
		c := newClock()
		dir := t.TempDir()
		r := start(t, Config{Directory: dir}, nil)
		r.waitReady(t)
		c.write(t, filepath.Join(dir, "f.journal"), msg("ssh.service", "new1"))
		wantMessages(t, r.recv(t, 1), "new1")
	})
}

func TestRestart(t *testing.T) {
	c := newClock()
	file := filepath.Join(t.TempDir(), "f.journal")
	c.write(t, file, msg("ssh.service", "old"))
	cfg := Config{Files: []string{file}, Match: []string{"_SYSTEMD_UNIT=ssh.service"}}
	pos := &testkit.Positions{}

	// Read half of what arrives, then stop (Run is blocked delivering b4).
	r1 := start(t, cfg, pos)
	r1.waitReady(t)
	c.write(t, file, msg("ssh.service", "b1"), msg("ssh.service", "b2"), msg("cron.service", "x"),
		msg("ssh.service", "b3"), msg("ssh.service", "b4"), msg("ssh.service", "b5"))
	got := r1.recv(t, 3)
	wantMessages(t, got, "b1", "b2", "b3")
	pos.Commit(got[2].Pos.Key, got[2].Pos.Value)
	r1.stop(t)

	// Written while stopped.
	c.write(t, file, msg("ssh.service", "c1"), msg("cron.service", "y"), msg("ssh.service", "c2"))

	r2 := start(t, cfg, pos)
	wantMessages(t, r2.recv(t, 4), "b4", "b5", "c1", "c2")
	c.write(t, file, msg("ssh.service", "c3"))
	got = r2.recv(t, 1) // the next entry is the new one: nothing came twice
	wantMessages(t, got, "c3")
	pos.Commit(got[0].Pos.Key, got[0].Pos.Value)
	r2.stop(t)
	if s := r2.j.Stats(); s.Read != 5 {
		t.Errorf("second run read %d entries, want 5", s.Read)
	}

	// Stopped and started at the very end: the stored entry is the last.
	r3 := start(t, cfg, pos)
	r3.waitReady(t)
	c.write(t, file, msg("ssh.service", "d1"))
	wantMessages(t, r3.recv(t, 1), "d1")
	if strings.Contains(r3.logs.String(), "not found") {
		t.Errorf("cursor reported missing:\n%s", r3.logs.String())
	}
}

func TestCursorGone(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	old := filepath.Join(dir, "old.journal")
	c.write(t, old, msg("ssh.service", "a1"), msg("ssh.service", "a2"), msg("ssh.service", "a3"))
	c.write(t, filepath.Join(dir, "new.journal"), msg("ssh.service", "b1"), msg("ssh.service", "b2"))
	cfg := Config{Directory: dir}

	r := start(t, cfg, nil, fromHead)
	got := r.recv(t, 2)
	wantMessages(t, got, "a1", "a2")
	r.stop(t)
	pos := &testkit.Positions{}
	pos.Commit(got[1].Pos.Key, got[1].Pos.Value)

	t.Run("present", func(t *testing.T) {
		r := start(t, cfg, pos)
		wantMessages(t, r.recv(t, 3), "a3", "b1", "b2")
	})
	t.Run("vacuumed", func(t *testing.T) {
		if err := os.Remove(old); err != nil {
			t.Fatal(err)
		}
		r := start(t, cfg, pos)
		wantMessages(t, r.recv(t, 2), "b1", "b2")
		if !strings.Contains(r.logs.String(), "stored cursor not found") {
			t.Errorf("no warning about the missing cursor:\n%s", r.logs.String())
		}
	})
	t.Run("unusable", func(t *testing.T) {
		bad := &testkit.Positions{}
		bad.Commit(r.j.Key(), []byte("not a cursor"))
		r := start(t, cfg, bad)
		wantMessages(t, r.recv(t, 2), "b1", "b2")
		if !strings.Contains(r.logs.String(), "stored cursor unusable") {
			t.Errorf("no warning about the bad cursor:\n%s", r.logs.String())
		}
	})
}

func TestBinaryAndHugeMessages(t *testing.T) {
	c := newClock()
	file := filepath.Join(t.TempDir(), "f.journal")
	c.write(t, file,
		msg("ssh.service", "bin\xff\xfe\x00ary\nline", "BIN", "\xff"),
		msg("ssh.service", strings.Repeat("h", 100_000)),
		msg("ssh.service", strings.Repeat("m", MaxMessage)),
		msg("ssh.service", strings.Repeat("o", MaxMessage+1)),
		msg("ssh.service", "after"),
	)
	r := start(t, Config{Files: []string{file}}, nil, fromHead)
	got := r.recv(t, 3)
	if got[0].Message != "bin\uFFFDary line" || got[0].Fields["BIN"] != "\uFFFD" {
		t.Errorf("binary entry: %q, BIN=%q", got[0].Message, got[0].Fields["BIN"])
	}
	if len(got[1].Message) != MaxMessage || strings.Trim(got[1].Message, "m") != "" {
		t.Errorf("entry of MaxMessage bytes: %d bytes", len(got[1].Message))
	}
	wantMessages(t, got[2:], "after")
	if s := r.j.Stats(); s.Read != 3 || s.Skipped != 2 || s.Errors != 0 {
		t.Errorf("stats %+v, want 3 read, 2 skipped", s)
	}
}

func TestNamespace(t *testing.T) {
	root := t.TempDir()
	id := "3d1219c7c4c5404aaa1f6d2a48adfda4"
	idFile := filepath.Join(root, "machine-id")
	if err := os.WriteFile(idFile, []byte(id+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	persistent, volatile := filepath.Join(root, "var"), filepath.Join(root, "run")
	oldFile, oldRoots := machineIDFile, journalRoots
	t.Cleanup(func() { machineIDFile, journalRoots = oldFile, oldRoots }) // after Run stopped
	machineIDFile, journalRoots = idFile, []string{persistent, volatile}

	// The namespace has no journal yet: Run waits for it.
	r := start(t, Config{Namespace: "sec", Match: []string{"_SYSTEMD_UNIT=ssh.service"}}, nil,
		func(j *Journal) { j.nsRecheck = 50 * time.Millisecond })
	if want := "journald namespace=sec _SYSTEMD_UNIT=ssh.service"; r.j.Describe() != want {
		t.Errorf("Describe() = %q, want %q", r.j.Describe(), want)
	}
	waitLog(t, r, "no journal yet")

	// journald starts it in /run: a new journal, read from its start.
	c := newClock()
	early := c.export(msg("ssh.service", "n1"), msg("cron.service", "x"), msg("ssh.service", "n2"))
	runDir := filepath.Join(volatile, id+".sec")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeExport(t, filepath.Join(runDir, "system.journal"), early)
	wantMessages(t, r.recv(t, 2), "n1", "n2")

	// Then it is flushed to /var: the same entries in a new file, and
	// one more. Only that one is new.
	varDir := filepath.Join(persistent, id+".sec")
	if err := os.MkdirAll(varDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeExport(t, filepath.Join(varDir, "system.journal"), append(early, c.export(msg("ssh.service", "n3"))...))
	wantMessages(t, r.recv(t, 1), "n3")
	c.write(t, filepath.Join(varDir, "system.journal"), msg("ssh.service", "n4"))
	wantMessages(t, r.recv(t, 1), "n4")
}

func TestDescribeAndKey(t *testing.T) {
	for _, tc := range []struct {
		cfg       Config
		desc, key string
	}{
		{Config{Match: []string{"_SYSTEMD_UNIT=ssh.service", "+", "_SYSTEMD_UNIT=sshd.service"}},
			"journald _SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service",
			"journald:_SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service"},
		{Config{}, "journald", "journald:"},
		{Config{Directory: "/var/log/remote", Match: []string{"MESSAGE=a b"}},
			`journald directory=/var/log/remote "MESSAGE=a b"`, `journald:directory=/var/log/remote "MESSAGE=a b"`},
		{Config{Files: []string{"/b.journal", "/a x.journal", "/b.journal"}},
			`journald files="/a x.journal",/b.journal`, `journald:files="/a x.journal",/b.journal`},
	} {
		j, err := New(tc.cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if j.Describe() != tc.desc || j.Key() != tc.key {
			t.Errorf("%+v: Describe %q Key %q; want %q %q", tc.cfg, j.Describe(), j.Key(), tc.desc, tc.key)
		}
	}
}

func TestLibsystemdMissing(t *testing.T) {
	defer func(n []string) { libNames = n }(libNames)
	libNames = []string{"liblogjail-no-such-systemd.so.0"}
	_, err := New(Config{}, nil, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "libsystemd cannot be loaded") {
		t.Fatalf("New without libsystemd: %v", err)
	}
}

func TestSystemJournal(t *testing.T) {
	journalRemote(t) // the same environment as the other tests
	// Whatever this host's journal holds (maybe nothing), it opens and is
	// followed from its end.
	r := start(t, Config{Match: []string{"_SYSTEMD_UNIT=logjail-test-no-such.service"}}, nil)
	r.waitReady(t)
	if want := "journald _SYSTEMD_UNIT=logjail-test-no-such.service"; r.j.Describe() != want {
		t.Errorf("Describe() = %q, want %q", r.j.Describe(), want)
	}
}

func TestRunTwice(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f.journal")
	newClock().write(t, file, msg("ssh.service", "x"))
	r := start(t, Config{Files: []string{file}}, nil)
	r.waitReady(t)
	if err := r.j.Run(context.Background(), make(chan ingest.Entry)); err == nil {
		t.Fatal("second concurrent Run accepted")
	}
}

// BenchmarkJournalRead reads a journal file of 100k sshd-like entries from
// its start, through a match that selects them all.
func BenchmarkJournalRead(b *testing.B) {
	const n = 100_000
	c := newClock()
	recs := make([]rec, n)
	for i := range recs {
		recs[i] = rec{"_HOSTNAME", "web1", "SYSLOG_IDENTIFIER", "sshd", "SYSLOG_PID", strconv.Itoa(1000 + i%5000),
			"_PID", strconv.Itoa(1000 + i%5000), "_COMM", "sshd", "_UID", "0", "_TRANSPORT", "syslog", "PRIORITY", "6",
			"_SYSTEMD_UNIT", "ssh.service",
			"MESSAGE", fmt.Sprintf("Failed password for invalid user u%d from 192.0.2.%d port %d ssh2", i%977, i%250, 1024+i%60000)}
	}
	file := filepath.Join(b.TempDir(), "bench.journal")
	writeExport(b, file, c.export(recs...))

	for _, bc := range []struct {
		name  string
		match []string
	}{
		{"all", nil},
		{"match", []string{"_SYSTEMD_UNIT=ssh.service", "+", "_SYSTEMD_UNIT=sshd.service"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			total := 0
			for b.Loop() {
				j, err := New(Config{Files: []string{file}, Match: bc.match}, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				j.startAtHead = true
				ctx, cancel := context.WithCancel(context.Background())
				out := make(chan ingest.Entry, 1024)
				done := make(chan error, 1)
				go func() { done <- j.Run(ctx, out) }()
				for range n {
					<-out
				}
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				total += n
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
