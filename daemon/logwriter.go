package daemon

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushEvery bounds how long a log line waits in a LogWriter.
const logFlushEvery = 100 * time.Millisecond

// logBufferSize is a LogWriter's buffer: a flood's ban lines (a few
// hundred bytes each) go out a few hundred at a time.
const logBufferSize = 64 << 10

// LogWriter buffers the daemon's log so that a line costs no write of its
// own: a flood of bans logs a line per ban, and a write per line made the
// log a syscall per ban on the runner's path. What it holds goes out
// within logFlushEvery, when the buffer is full, and at Flush and Close.
// An idle LogWriter has no timer running.
type LogWriter struct {
	mu     sync.Mutex
	out    io.Writer
	buf    *bufio.Writer
	timer  *time.Timer
	armed  bool // the timer will flush what is buffered
	closed bool
}

// NewLogWriter returns a LogWriter writing to out.
func NewLogWriter(out io.Writer) *LogWriter {
	l := &LogWriter{out: out, buf: bufio.NewWriterSize(out, logBufferSize)}
	l.timer = time.AfterFunc(time.Hour, func() { _ = l.Flush() })
	l.timer.Stop()
	return l
}

// Write buffers p; after Close it writes p through.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.out.Write(p)
	}
	n, err := l.buf.Write(p)
	if l.buf.Buffered() > 0 && !l.armed {
		l.armed = true
		l.timer.Reset(logFlushEvery)
	}
	return n, err
}

// Flush writes what is buffered.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	return l.buf.Flush()
}

// Close flushes and stops buffering: what is written after goes through
// at once (the last words of a process that is exiting).
func (l *LogWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer.Stop()
	l.closed, l.armed = true, false
	return l.buf.Flush()
}
