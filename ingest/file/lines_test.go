package file

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/logjail/logjail/ingest"
)

// FuzzLines checks the line splitter against a reference: whatever bytes
// arrive, in whatever pieces, the complete lines come out once each,
// sanitised, overlong ones skipped and counted, and nothing panics.
func FuzzLines(f *testing.F) {
	f.Add([]byte("a\nb\n"), []byte{1})
	f.Add([]byte("0123456789012345678901234\nshort\n\xff\x00\r\nlast"), []byte{3, 20, 7})
	f.Add(bytes.Repeat([]byte("x"), 100), []byte{16, 16, 16})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		const maxLine = 20
		path := filepath.Join(t.TempDir(), "f.log")
		w, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		tl, err := New(Config{Paths: []string{path}, MaxLine: maxLine}, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		out := make(chan ingest.Entry, bytes.Count(data, []byte("\n"))+1)
		r, tf := fuzzRunner(t, tl, path, out)
		defer tf.close()
		writeInPieces(t, w, r, data, splits)
		close(out)

		want, skipped := wantLines(data, maxLine)
		if got := receivedLines(t, out); !slices.Equal(got, want) {
			t.Fatalf("lines = %q, want %q", got, want)
		}
		// A held overlong tail may already be counted before its newline.
		if s := tl.Stats().Skipped; s != skipped && s != skipped+1 {
			t.Fatalf("skipped = %d, want %d", s, skipped)
		}
		if cap(tf.partial) > 2*readBufSize {
			t.Fatalf("partial buffer grew to %d", cap(tf.partial))
		}
	})
}

// fuzzRunner is a runner of tl reading path alone, through the smallest
// buffer so that every path is taken.
func fuzzRunner(t *testing.T, tl *Tail, path string, out chan ingest.Entry) (*runner, *tailFile) {
	t.Helper()
	r := &runner{t: tl, ctx: context.Background(), out: out, log: tl.log}
	rf, fi, err := openFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tf := &tailFile{id: idOf(fi), path: path, f: rf, suffixLen: -1}
	tf.r = bufio.NewReaderSize(rf, 16) // smallest buffer: every path taken
	tf.want = true
	r.order = []*tailFile{tf}
	return r, tf
}

// writeInPieces writes data to w in pieces splits sizes (each plus
// one), the runner reading after each, and the rest at once.
func writeInPieces(t *testing.T, w *os.File, r *runner, data, splits []byte) {
	t.Helper()
	rest := data
	for _, s := range append(splits, 255) {
		n := min(int(s)+1, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
		r.wantAll()
		if err := r.readAll(); err != nil {
			t.Fatal(err)
		}
		if len(rest) == 0 {
			break
		}
	}
	if len(rest) > 0 {
		w.Write(rest)
		r.wantAll()
		if err := r.readAll(); err != nil {
			t.Fatal(err)
		}
	}
}

// wantLines are the complete lines of data up to maxLine, sanitized, and
// the number of longer ones.
func wantLines(data []byte, maxLine int) (want []string, skipped uint64) {
	lines := bytes.Split(data, []byte("\n"))
	for _, l := range lines[:len(lines)-1] { // the last piece has no newline yet
		if len(l) > maxLine {
			skipped++
			continue
		}
		want = append(want, sanitize(l))
	}
	return want, skipped
}

// receivedLines are the messages of the entries in out, whose positions
// must grow.
func receivedLines(t *testing.T, out <-chan ingest.Entry) []string {
	t.Helper()
	var got []string
	var lastOff int64
	for e := range out {
		got = append(got, e.Message)
		c, err := ParseCursor(e.Pos.Value)
		if err != nil || c.Offset <= lastOff {
			t.Fatalf("bad position %q after %d: %v", e.Pos.Value, lastOff, err)
		}
		lastOff = c.Offset
	}
	return got
}

// BenchmarkLines measures the per-line cost of reading and emitting: two
// allocations per line are expected (the Message and the Position value).
func BenchmarkLines(b *testing.B) {
	line := []byte("Nov 25 08:22:43 host sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2\n")
	path := filepath.Join(b.TempDir(), "f.log")
	if err := os.WriteFile(path, bytes.Repeat(line, 10000), 0o644); err != nil {
		b.Fatal(err)
	}
	tl, err := New(Config{Paths: []string{path}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	out := make(chan ingest.Entry, 10000)
	r := &runner{t: tl, ctx: context.Background(), out: out, log: tl.log}
	rf, fi, err := openFile(path)
	if err != nil {
		b.Fatal(err)
	}
	tf := &tailFile{id: idOf(fi), path: path, f: rf, suffixLen: -1}
	defer tf.close()
	r.order = []*tailFile{tf}
	b.SetBytes(int64(len(line)) * 10000)
	b.ReportAllocs()
	for b.Loop() {
		if err := tf.seek(0); err != nil {
			b.Fatal(err)
		}
		r.wantAll()
		if err := r.readAll(); err != nil {
			b.Fatal(err)
		}
		for range 10000 {
			<-out
		}
	}
}
