package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Under systemd, logjail's stderr is a stream to the journal, which the
// service manager names in JOURNAL_STREAM as "DEVICE:INODE" (systemd.exec(5)).
// journald reads a "<N>" at the start of a line as its syslog priority
// (sd-daemon(3)), so there each log line starts with its level's, and
// `journalctl -p warning` shows logjail's warnings and errors. Elsewhere (a
// terminal, a file, a pipe, or a stderr redirected away from the stream
// the variable names) lines have no prefix.

// stderrIsJournal reports whether stderr is the stream JOURNAL_STREAM names.
func stderrIsJournal() bool {
	v := os.Getenv("JOURNAL_STREAM")
	if v == "" {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(os.Stderr.Fd()), &st); err != nil {
		return false
	}
	return v == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// journalPrefixes are the sd-daemon(3) prefixes logjail's levels map to:
// error, warning, info, debug.
var journalPrefixes = [...]string{"<3>", "<4>", "<6>", "<7>"}

// journalPriority is the index in journalPrefixes of a log level.
func journalPriority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 0
	case l >= slog.LevelWarn:
		return 1
	case l >= slog.LevelInfo:
		return 2
	}
	return 3
}

// priorityHandler hands each record to the handler of its priority, one
// per prefix, all made alike, each writing through a prefixWriter.
type priorityHandler struct {
	byPriority [len(journalPrefixes)]slog.Handler
}

// newPriorityHandler returns what mk(w) would, each line prefixed with
// its priority.
func newPriorityHandler(mk func(io.Writer) slog.Handler, w io.Writer) slog.Handler {
	h := &priorityHandler{}
	for i, p := range journalPrefixes {
		h.byPriority[i] = mk(&prefixWriter{prefix: p, w: w})
	}
	return h
}

func (h *priorityHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.byPriority[journalPriority(l)].Enabled(ctx, l)
}

func (h *priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.byPriority[journalPriority(r.Level)].Handle(ctx, r)
}

func (h *priorityHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := &priorityHandler{}
	for i, bh := range h.byPriority {
		c.byPriority[i] = bh.WithAttrs(as)
	}
	return c
}

func (h *priorityHandler) WithGroup(name string) slog.Handler {
	c := &priorityHandler{}
	for i, bh := range h.byPriority {
		c.byPriority[i] = bh.WithGroup(name)
	}
	return c
}

// prefixWriter writes each line a handler writes (one Write per record)
// with prefix before it, in one Write: lines of other priorities never
// come between the two.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(append(p.buf[:0], p.prefix...), b...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

// journalErrors makes cmd (`run`) print the error it ends with as an
// error-priority line when stderr is the journal.
func journalErrors(cmd *cli.Command) *cli.Command {
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		err := action(c)
		if err == nil || !stderrIsJournal() {
			return err
		}
		code, print := exitCode(err)
		if print {
			fmt.Fprintf(c.App.ErrWriter, "%slogjail: %v\n", journalPrefixes[0], err)
		}
		return &exitError{code: code}
	}
	return cmd
}
