package file

import (
	"bufio"
	"errors"
	"io"
	"time"

	"github.com/logjail/logjail/ingest"
)

const (
	// roundBudget is how much one file may read before the others get a
	// turn, so that one busy or huge file cannot starve the rest.
	roundBudget = 256 << 10
	// maxRounds bounds one catch-up pass so that events and ticks (rotation
	// checks) still get served while a large backlog is read.
	maxRounds = 64
)

// wantAll marks every file for reading: after a scan or on a poll tick.
func (r *runner) wantAll() {
	for _, tf := range r.order {
		tf.want = true
	}
}

// readAll reads every file that wants reading, a budget at a time in turn,
// until all are at their end or maxRounds passed (then r.behind is set),
// and sends what it read.
func (r *runner) readAll() error {
	if err := r.readRounds(); err != nil {
		return err
	}
	return r.flush()
}

// readRounds is readAll without the flush.
func (r *runner) readRounds() error {
	for range maxRounds {
		more := false
		for _, tf := range r.order {
			if !tf.want {
				continue
			}
			m, err := r.readFile(tf)
			if err != nil {
				return err
			}
			tf.want = m
			more = more || m
		}
		if !more {
			r.behind = false
			return nil
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	r.behind = true
	return nil
}

// readFile reads one budget of tf and emits its complete lines. It reports
// whether data may be left. Only cancellation is returned as an error.
func (r *runner) readFile(tf *tailFile) (bool, error) {
	more, err := r.readLines(tf)
	r.settle()
	return more, err
}

// readLines is readFile but for the last entry's position.
func (r *runner) readLines(tf *tailFile) (bool, error) {
	if tf.r == nil {
		tf.r = bufio.NewReaderSize(tf.f, readBufSize)
	}
	r.readAt = time.Now()
	maxLine := r.t.cfg.MaxLine
	n := 0
	for n < roundBudget {
		chunk, err := tf.r.ReadSlice('\n')
		if len(chunk) > 0 {
			n += len(chunk)
			tf.consume(chunk)
		}
		switch {
		case err == nil:
			if err := r.line(tf, chunk); err != nil {
				return false, err
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if tf.hold(chunk, maxLine) {
				r.skip(tf)
			}
		case errors.Is(err, io.EOF):
			if tf.hold(chunk, maxLine) {
				r.skip(tf)
			}
			if n > 0 {
				tf.lastData = time.Now()
				tf.errMsg = ""
				return false, nil
			}
			// Nothing new: the cheap moment to notice a truncation.
			return r.checkTruncated(tf, false), nil
		default:
			r.readError(tf, err)
			return false, nil
		}
	}
	tf.lastData = time.Now()
	return true, nil
}

// line handles a chunk that ends in '\n'.
func (r *runner) line(tf *tailFile, chunk []byte) error {
	msg, ok, skipped := tf.end(chunk, r.t.cfg.MaxLine)
	if skipped {
		r.skip(tf)
	}
	if !ok {
		return nil
	}
	return r.emit(tf, msg, tf.off)
}

func (r *runner) skip(tf *tailFile) {
	r.t.skipped.Add(1)
	r.log.Debug("file: line longer than MaxLine skipped", "path", tf.path, "max", r.t.cfg.MaxLine)
}

// emit adds one entry to the batch, sent when it is full and at the end
// of every read cycle (see flush). Sent in batches, an entry gets its
// position's Value only when it is the last of its file in a read or in
// its batch (see settle and ingest.BatchSource): the cursor is made once
// a read, not once a line.
func (r *runner) emit(tf *tailFile, msg string, off int64) error {
	e := ingest.Entry{ReadAt: r.readAt, Message: msg, Pos: ingest.Position{Key: tf.path}}
	if r.batches == nil {
		e.Pos.Value = tf.posValue(off, &r.posArena)
	} else {
		if r.pend.tf != tf {
			r.settle()
		}
		r.pend = pendingPos{tf: tf, off: off, at: len(r.batch)}
	}
	r.batch = append(r.batch, e)
	if len(r.batch) < ingest.BatchSize {
		return nil
	}
	return r.flush()
}

// pendingPos is the last entry emitted in batches, whose position's
// Value is not made yet: tf's cursor at off, for batch[at].
type pendingPos struct {
	tf  *tailFile
	off int64
	at  int
}

// settle makes the Value of the pending entry's position. It is called
// before anything can change what the cursor is made of (the file's first
// bytes, read only forward within a read): at the end of every read, and
// before the batch is sent.
func (r *runner) settle() {
	if p := r.pend; p.tf != nil {
		r.batch[p.at].Pos.Value = p.tf.posValue(p.off, &r.posArena)
		r.pend = pendingPos{}
	}
}

// flush sends the batch, waiting for the consumer (backpressure) or ctx.
func (r *runner) flush() error {
	n := len(r.batch)
	if n == 0 {
		return nil
	}
	r.settle()
	last := r.batch[n-1].ReadAt
	if r.batches != nil {
		select {
		case r.batches <- r.batch:
			r.batch = ingest.NewBatch()
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	} else {
		for i := range r.batch {
			select {
			case r.out <- r.batch[i]:
			case <-r.ctx.Done():
				r.t.read.Add(uint64(i)) // conversion: a count
				return r.ctx.Err()
			}
		}
		clear(r.batch)
		r.batch = r.batch[:0]
	}
	r.t.read.Add(uint64(n)) // conversion: a count
	r.t.health.Entry(last)
	return nil
}

// checkTruncated detects copytruncate: the file is now shorter than what
// was read, or (deep, on poll ticks) its first bytes changed because it was
// truncated and refilled past the offset in between two looks. The file is
// then read again from its start; a held partial line is dropped because
// its end is lost.
func (r *runner) checkTruncated(tf *tailFile, deep bool) bool {
	fi, err := tf.f.Stat()
	if err != nil {
		r.readError(tf, err)
		return false
	}
	trunc := fi.Size() < tf.off+tf.pending()
	if !trunc && deep && len(tf.head) > 0 {
		buf := r.scratch[:len(tf.head)]
		n, _ := tf.f.ReadAt(buf, 0)
		trunc = n < len(buf) || string(buf) != string(tf.head)
	}
	if !trunc {
		return false
	}
	r.log.Info("file: truncated; reading from start", "path", tf.path)
	if len(tf.partial) > 0 && !tf.skipping {
		r.skip(tf)
	}
	tf.dropPartial()
	tf.skipping = false
	if err := tf.seek(0); err != nil {
		r.readError(tf, err)
		return false
	}
	return true
}

// expire closes rotated-away files that gave no data for RotateWait, after
// emitting their unterminated last line: its writer has moved on, so that
// line will never be completed.
func (r *runner) expire() error {
	now := time.Now()
	changed := false
	for _, tf := range r.order {
		if tf.gone.IsZero() || tf.want {
			continue
		}
		last := tf.gone
		if tf.lastData.After(last) {
			last = tf.lastData
		}
		if now.Sub(last) < r.t.cfg.RotateWait {
			continue
		}
		if len(tf.partial) > 0 && !tf.skipping {
			msg := sanitize(tf.partial)
			tf.dropPartial()
			r.readAt = now
			if err := r.emit(tf, msg, tf.off); err != nil {
				return err
			}
			r.settle()
		}
		r.log.Debug("file: done with rotated file", "path", tf.path)
		tf.close()
		delete(r.files, tf.id)
		changed = true
	}
	if changed {
		r.reorder()
	}
	return nil
}
