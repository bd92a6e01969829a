package file

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// readBufSize is the per-file read buffer. Lines longer than this are
// assembled in tailFile.partial, which MaxLine bounds.
const readBufSize = 32 << 10

// fileID identifies a file independently of its name, which is how a
// rename (rotation) is told apart from a new file.
type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)} // conversions: field types differ across platforms
}

// tailFile is one open file. It is only touched by the Run goroutine, so
// its buffers are reused without locking.
type tailFile struct {
	id   fileID
	path string // where the file was last seen; the Position key
	f    *os.File
	r    *bufio.Reader
	// budget is given back f's descriptor when f is closed.
	budget *Budget

	off  int64  // bytes consumed from the file (lines + held partial)
	head []byte // the file's first bytes as read, up to headSize

	// suffix caches the identity part of the encoded cursor for suffixLen
	// head bytes; after the first KiB it never changes.
	suffix    []byte
	suffixLen int

	// framer holds an unterminated line until its newline arrives.
	framer

	gone     time.Time // when the path stopped pointing here; zero while current
	lastData time.Time // last time a read returned data
	want     bool      // needs a read (event, poll, or data left over)
	errMsg   string    // last read error logged, to log it once
}

// openFile opens path without ever blocking (a FIFO planted where a log is
// expected must not hang the tailer) and insists on a regular file.
func openFile(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	return f, fi, nil
}

// seek positions tf at off and reloads the fingerprint bytes before it.
func (tf *tailFile) seek(off int64) error {
	if _, err := tf.f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	tf.off = off
	tf.head = tf.head[:0]
	tf.suffix, tf.suffixLen = nil, -1
	if n := min(off, headSize); n > 0 {
		if cap(tf.head) < headSize {
			tf.head = make([]byte, 0, headSize)
		}
		m, err := tf.f.ReadAt(tf.head[:n], 0)
		if int64(m) < n {
			// Shrank under us; the caller retries on the next scan.
			return fmt.Errorf("reading start of file: %w", cmp.Or(err, io.ErrUnexpectedEOF))
		}
		tf.head = tf.head[:m]
	}
	if tf.r != nil {
		tf.r.Reset(tf.f)
	}
	return nil
}

// endsMidLine reports whether the byte before off is not a newline, i.e.
// starting at off would emit the tail of a line as if it were whole.
func endsMidLine(f *os.File, off int64) bool {
	if off == 0 {
		return false
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], off-1); err != nil {
		return false
	}
	return b[0] != '\n'
}

// consume accounts for bytes taken out of the reader, in file order.
func (tf *tailFile) consume(chunk []byte) {
	if len(tf.head) < headSize {
		if cap(tf.head) < headSize {
			tf.head = append(make([]byte, 0, headSize), tf.head...)
		}
		tf.head = append(tf.head, chunk[:min(len(chunk), headSize-len(tf.head))]...)
	}
	tf.off += int64(len(chunk))
}

// posValue encodes the cursor for a line ending at off (off <= tf.off),
// cut from arena.
func (tf *tailFile) posValue(off int64, arena *[]byte) []byte {
	// min with len(head) only matters if the file shrank while being
	// opened; the fingerprint then simply will not match on resume.
	hl := min(int(min(off, headSize)), len(tf.head))
	if tf.suffix == nil || tf.suffixLen != hl {
		c := Cursor{Dev: tf.id.dev, Ino: tf.id.ino, HeadLen: hl, HeadSum: headSum(tf.head[:hl])}
		tf.suffix, tf.suffixLen = c.appendSuffix(tf.suffix[:0]), hl
	}
	return cut(arena, off, tf.suffix)
}

// pending is how far ahead of tf.off the descriptor has read.
func (tf *tailFile) pending() int64 {
	if tf.r == nil {
		return 0
	}
	return int64(tf.r.Buffered())
}

func (tf *tailFile) close() {
	if tf.f != nil {
		tf.f.Close()
		tf.f = nil
		tf.budget.give()
	}
	tf.r = nil
	tf.partial = nil
}
