package file

import (
	"bufio"
	"errors"
	"io"

	"github.com/logjail/logjail/ingest"
)

// framer cuts lines out of the chunks bufio.Reader.ReadSlice('\n') gives:
// the one framing of the file source and of Replay. A line is what ends
// in "\n"; one longer than maxLine is skipped whole, and memory stays
// bounded while it goes by.
type framer struct {
	partial  []byte // unterminated line held until its newline arrives
	skipping bool   // discarding the rest of an overlong line
}

// hold keeps an unterminated piece of a line, or starts skipping the line
// once it has outgrown maxLine so that memory stays bounded. It reports
// whether a line was just given up on.
func (f *framer) hold(chunk []byte, maxLine int) (skipped bool) {
	if f.skipping || len(chunk) == 0 {
		return false
	}
	if len(f.partial)+len(chunk) > maxLine {
		f.skipping = true
		f.dropPartial()
		return true
	}
	f.partial = append(f.partial, chunk...)
	return false
}

// end takes a chunk that ends in '\n': the line it completes, sanitised,
// and ok; not ok for the end of a line being skipped (counted when it was
// given up on) or one that is too long, then reported as skipped.
func (f *framer) end(chunk []byte, maxLine int) (msg string, ok, skipped bool) {
	if f.skipping {
		f.skipping = false
		return "", false, false
	}
	line := chunk
	if len(f.partial) > 0 {
		if len(f.partial)+len(chunk)-1 > maxLine {
			f.dropPartial()
			return "", false, true
		}
		f.partial = append(f.partial, chunk...)
		line = f.partial
	}
	line = line[:len(line)-1]
	if len(line) > maxLine {
		f.dropPartial()
		return "", false, true
	}
	msg = sanitize(line)
	f.dropPartial()
	return msg, true, false
}

// dropPartial forgets the held piece, releasing a large buffer so that one
// long line does not pin MaxLine bytes per file forever.
func (f *framer) dropPartial() {
	if cap(f.partial) > readBufSize {
		f.partial = nil
	} else {
		f.partial = f.partial[:0]
	}
}

// sanitize turns a raw line into the Message: without the trailing "\r",
// valid UTF-8 (invalid bytes become U+FFFD) and without NUL bytes, which
// show up in runs after a crash and would confuse patterns and terminals.
func sanitize(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return ingest.CleanField(string(b))
}

// Replay reads a whole log from its start, framed as the file source
// frames it (same splitting, same sanitising, lines longer than maxLine
// skipped; 0 means the file source's default), and hands fn each line's
// message with its 1-based physical line number in the log. A last line
// without a newline is handed over too, as the file source does once a
// rotated file's writer has moved on. It returns the number of physical
// lines read and of those skipped, and the first error of the reader or
// of fn.
func Replay(r io.Reader, maxLine int, fn func(line int, msg string) error) (lines, skipped int, err error) {
	if maxLine <= 0 {
		maxLine = defaultMaxLine
	}
	br := bufio.NewReaderSize(r, readBufSize)
	var f framer
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			n++
			msg, ok, skip := f.end(chunk, maxLine)
			if skip {
				skipped++
			}
			if ok {
				if err := fn(n, msg); err != nil {
					return n, skipped, err
				}
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if f.hold(chunk, maxLine) {
				skipped++
			}
		case errors.Is(err, io.EOF):
			if f.hold(chunk, maxLine) {
				skipped++
			}
			if f.skipping || len(f.partial) > 0 {
				n++ // a last line without a newline
			}
			if len(f.partial) > 0 && !f.skipping {
				return n, skipped, fn(n, sanitize(f.partial))
			}
			return n, skipped, nil
		default:
			return n, skipped, err
		}
	}
}
