package match

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/logjail/logjail/ingest"
)

// How `logjail test` reads its log: one reader splitting a stream into
// batches (readBatches), or, for a regular file, every worker reading and
// splitting ranges of it (fileRanges). Both give the same lines: split at
// "\n", up to two trailing "\r" dropped (as bufio.ScanLines and the file
// source do), invalid UTF-8 replaced, an error at a line of maxTestLine
// bytes or more.

// testFeed returns what sends r's batches to the workers, and what the
// merge hands each batch back to once done with it (nil when nothing).
func testFeed(r io.Reader, apart bool, workers int) (func(chan<- *testBatch, <-chan struct{}), func(*testBatch)) {
	if fr := newFileRanges(r, apart, workers); fr != nil {
		return fr.run, fr.release
	}
	return func(out chan<- *testBatch, stop <-chan struct{}) { readBatches(r, out, stop) }, nil
}

// readBatches splits r into numbered batches of lines, until r ends or
// stop closes. A read error ends the last batch.
func readBatches(r io.Reader, out chan<- *testBatch, stop <-chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxTestLine)
	var read int64
	b := &testBatch{}
	var text batchText
	for sc.Scan() {
		read += int64(len(sc.Bytes())) + 1
		text.add(bytes.TrimSuffix(sc.Bytes(), []byte("\r")))
		if text.n == testBatchLines {
			b.lines, b.read = text.take(), read
			select {
			case out <- b:
			case <-stop:
				return
			}
			b = &testBatch{seq: b.seq + 1}
		}
	}
	b.err = sc.Err()
	if text.n > 0 || b.err != nil {
		b.lines, b.read = text.take(), read
		out <- b
	}
}

// batchText gathers a batch's lines into strings of up to chunkBytes, a
// run of lines each, not a string each: a line's allocation cost more than
// matching most lines. A chunk stays below the size of a large allocation,
// whose fresh pages cost a page fault each; a small one reuses the heap's.
type batchText struct {
	chunk strings.Builder // String() does not copy, as string([]byte) does
	ends  []int           // where each line of chunk ends
	lines []string
	n     int // lines added since take
}

const chunkBytes = 32 * 1024

func (t *batchText) add(line []byte) {
	if t.chunk.Len() > 0 && t.chunk.Len()+len(line) > chunkBytes {
		t.flush()
	}
	if t.chunk.Cap() == 0 {
		t.chunk.Grow(chunkBytes)
	}
	t.chunk.Write(line)
	t.ends = append(t.ends, t.chunk.Len())
	t.n++
}

// flush splits the chunk into lines, valid UTF-8: one check of the chunk,
// for nearly every chunk, where a check a line would cost a call each. A
// valid chunk cut where characters start leaves valid lines; the two lines
// of a cut inside a character (one ends where the next continues it) are
// checked alone.
func (t *batchText) flush() {
	text := t.chunk.String()
	valid := utf8.ValidString(text)
	start, cutBefore := 0, false
	for _, end := range t.ends {
		line := text[start:end]
		cut := end < len(text) && !utf8.RuneStart(text[end])
		if !valid || cut || cutBefore {
			line = ingest.ValidUTF8(line)
		}
		t.lines = append(t.lines, line)
		start, cutBefore = end, cut
	}
	t.chunk, t.ends = strings.Builder{}, t.ends[:0]
}

// take returns the lines added since the last take.
func (t *batchText) take() []string {
	t.flush()
	lines := t.lines
	t.lines, t.n = make([]string, 0, len(lines)), 0
	return lines
}

// fileRanges reads a regular file on every worker: the file is cut into
// ranges of rangeBytes, a batch each, and the worker of a batch reads its
// range (ReadAt) and splits the lines that start in it. The lines point
// into the batch's read buffer, with no copy, and the buffer is read into
// again once the merge is done with the batch: so only logjail's dialect,
// whose matchers keep no line (a connection's id and user are copied),
// reads this way (line by line, or split with Prepare apart), and a failure sink keeps no
// string of a failure beyond its call (TestOptions.Failures).
type fileRanges struct {
	f          *os.File
	start, end int64 // from the file's offset to its size when Test began
	// free holds the batches the merge is done with, and bounds how many
	// are read ahead of it.
	free chan *testBatch
}

// fileRange is the part of a file whose lines one batch holds: those that
// start at or after from and before to.
type fileRange struct {
	src      *fileRanges
	from, to int64
	buf      []byte
	lines    []string
}

// rangeBytes is the size of one range: ~1,800 lines of an auth.log, few
// enough that they stay in a core's cache from their read to their match,
// enough that a read and a batch's hand-overs cost nothing per line.
// rangeTail is how much past its range a batch reads at once, for the
// line under way at its end.
const (
	rangeBytes = 256 << 10
	rangeTail  = 4 << 10
)

// newFileRanges returns the ranges of r when r is a regular file with
// bytes left to read and its lines are read apart (LineByLine, or a
// Splitter preparing apart); nil otherwise.
func newFileRanges(r io.Reader, apart bool, workers int) *fileRanges {
	f, ok := r.(*os.File)
	if !ok || !apart {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || fi.Size() <= off {
		return nil
	}
	ahead := 2*workers + 2
	fr := &fileRanges{f: f, start: off, end: fi.Size(), free: make(chan *testBatch, ahead)}
	for range ahead {
		fr.free <- &testBatch{}
	}
	return fr
}

// run sends a batch for each range, in order, until the file's end or
// stop closes; it waits for a free batch before each.
func (fr *fileRanges) run(out chan<- *testBatch, stop <-chan struct{}) {
	for seq, from := 0, fr.start; from < fr.end; seq, from = seq+1, from+rangeBytes {
		var b *testBatch
		select {
		case b = <-fr.free:
		case <-stop:
			return
		}
		to := min(from+rangeBytes, fr.end)
		b.seq, b.read, b.err = seq, to-fr.start, nil
		b.rng.src, b.rng.from, b.rng.to = fr, from, to
		select {
		case out <- b:
		case <-stop:
			return
		}
	}
}

// release takes back a batch the merge is done with. A buffer grown for a
// long line is dropped rather than kept.
func (fr *fileRanges) release(b *testBatch) {
	if cap(b.rng.buf) > 2*(rangeBytes+rangeTail) {
		b.rng.buf = nil
	}
	b.lines = nil
	fr.free <- b
}

// load reads the batch's lines when the batch is a range of a file; a
// failed read or a line too long sets b.err after the lines before it.
func (b *testBatch) load() {
	if b.rng.src != nil {
		b.lines, b.err = b.rng.read()
	}
}

// read reads and splits the lines that start in the range. A line starts
// at the file's start or after a "\n": the one under way at from belongs
// to the range before, the one under way at to is read to its end.
func (rg *fileRange) read() ([]string, error) {
	fr := rg.src
	lo := rg.from
	if lo > fr.start {
		lo-- // the byte before from: does a line start at from?
	}
	data, eof, err := rg.readAt(lo, 0, min(rg.to+rangeTail, fr.end))
	if err != nil {
		return nil, err
	}
	p := 0 // where the next line starts, in data
	if lo < rg.from {
		i := bytes.IndexByte(data[:min(int(rg.to-lo)-1, len(data))], '\n')
		if i < 0 {
			return nil, nil // inside a line of the range before
		}
		p = i + 1
	}
	lines, first := rg.lines[:0], p
	for p < len(data) && lo+int64(p) < rg.to {
		i := bytes.IndexByte(data[p:], '\n')
		for i < 0 && !eof && len(data)-p < maxTestLine {
			// The line goes on past what was read: read on, up to
			// maxTestLine bytes from its start.
			have := len(data)
			if data, eof, err = rg.readAt(lo, have, min(lo+int64(p+maxTestLine), fr.end)); err != nil {
				return lines, err
			}
			if i = bytes.IndexByte(data[have:], '\n'); i >= 0 {
				i += have - p
			}
		}
		var line []byte
		switch {
		case i >= 0 && i < maxTestLine:
			line, p = data[p:p+i], p+i+1
		case i < 0 && len(data)-p < maxTestLine:
			line, p = data[p:], len(data)
		default:
			rg.lines = lines
			return validLines(lines, data[first:p]), bufio.ErrTooLong
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\r")), []byte("\r"))
		lines = append(lines, bytesString(line))
	}
	rg.lines = lines
	return validLines(lines, data[first:p]), nil
}

// readAt reads the file's bytes from lo+have to hi into the range's
// buffer, whose first have bytes hold the file's from lo, and returns the
// bytes from lo; eof tells that they run to the file's end (hi is its
// size, or the file ended sooner).
func (rg *fileRange) readAt(lo int64, have int, hi int64) (data []byte, eof bool, err error) {
	if n := int(hi - lo); n > cap(rg.buf) {
		// A new array, never the old one's: lines split so far point
		// into that.
		rg.buf = append(make([]byte, 0, n), rg.buf[:have]...)
	}
	rg.buf = rg.buf[:hi-lo]
	n, err := rg.src.f.ReadAt(rg.buf[have:], lo+int64(have))
	rg.buf = rg.buf[:have+n]
	if errors.Is(err, io.EOF) {
		return rg.buf, true, nil
	}
	return rg.buf, hi == rg.src.end, err
}

// validLines returns lines valid UTF-8, text being the bytes they were
// split from: one check of the whole text, and of each line only when it
// fails.
func validLines(lines []string, text []byte) []string {
	if utf8.Valid(text) {
		return lines
	}
	for i, l := range lines {
		lines[i] = ingest.ValidUTF8(l)
	}
	return lines
}

// bytesString is b as a string without a copy: b must not change while
// the string is in use (see fileRanges).
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
