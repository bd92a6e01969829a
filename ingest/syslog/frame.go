package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// frameKind says what frameReader.next found.
type frameKind int

const (
	frameOK        frameKind = iota // a record
	frameOversize                   // a record longer than max, skipped whole
	frameBadHeader                  // an invalid octet count; the text up to the next trailer follows
)

// maxLenDigits bounds an octet count's digits: 10 digits is enough for any
// count up to the 2 GiB the framing allows in practice.
const maxLenDigits = 10

// frameReader splits a TCP or TLS stream into records (RFC 6587). The
// framing is chosen from the stream's first byte: a digit 1-9 means octet
// counting ("LEN SP MSG"), anything else non-transparent framing, where a
// record ends at LF or NUL. If the first frame's header then turns out not
// to be "LEN SP", the stream is newline-framed after all (a first line
// starting with a digit, as in a message without PRI). A record longer than max is skipped without
// being held in memory: an octet-counted one by discarding exactly LEN bytes,
// a newline-terminated one by discarding up to its trailer.
type frameReader struct {
	r      *bufio.Reader
	max    int
	mode   int // 0 undecided, modeOctet, modeLine
	acc    []byte
	octets int // octet-counted frames read
}

const (
	modeOctet = 1 + iota
	modeLine
)

func newFrameReader(r io.Reader, bufSize, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, bufSize), max: max}
}

// next returns the next frame. The returned slice is valid until the next
// call. It returns io.EOF at a clean end of stream.
func (f *frameReader) next() ([]byte, frameKind, error) {
	if f.mode == 0 {
		c, err := f.r.Peek(1)
		if err != nil {
			return nil, frameOK, err
		}
		f.mode = modeLine
		if c[0] >= '1' && c[0] <= '9' {
			f.mode = modeOctet
		}
	}
	if f.mode == modeOctet {
		return f.octet()
	}
	for {
		b, over, err := f.line(nil)
		if over {
			return nil, frameOversize, err
		}
		if err != nil {
			return nil, frameOK, err
		}
		if len(b) > 0 {
			return b, frameOK, nil
		}
		// An empty line (CR LF CR LF senders, keep-alives): nothing to do.
	}
}

// octet reads one octet-counted frame. Whitespace and trailers between
// frames (senders that add LF after each frame) are skipped. A header that
// is not "LEN SP", after the first frame, is a framing error: the stream is
// resynchronised at the next LF or NUL, and what was read is returned as
// frameBadHeader.
func (f *frameReader) octet() ([]byte, frameKind, error) {
	var hdr [maxLenDigits + 1]byte
	n, length := 0, 0
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, frameOK, err
		}
		if n == 0 && (c == '\n' || c == '\r' || c == ' ' || c == 0) {
			continue
		}
		if c >= '0' && c <= '9' && n < maxLenDigits && !(n == 0 && c == '0') {
			hdr[n] = c
			n++
			length = length*10 + int(c-'0')
			continue
		}
		if c == ' ' && n > 0 {
			break
		}
		// Not a valid header. On the first frame the first byte misled:
		// a newline-framed stream whose first line starts with a digit.
		kind := frameBadHeader
		if f.octets == 0 {
			f.mode, kind = modeLine, frameOK
		}
		if c == '\n' || c == 0 {
			f.acc = append(f.acc[:0], hdr[:n]...)
			return f.acc, kind, nil
		}
		hdr[n] = c
		b, over, err := f.line(hdr[:n+1])
		if over {
			return nil, frameOversize, err
		}
		return b, kind, err
	}
	f.octets++
	if length > f.max {
		return nil, frameOversize, f.discard(length)
	}
	if length <= f.r.Size() {
		b, err := f.r.Peek(length)
		if err != nil {
			return nil, frameOK, unexpected(err)
		}
		_, _ = f.r.Discard(length)
		return b, frameOK, nil
	}
	// Assembled as it arrives: memory follows the bytes received, not the
	// length claimed.
	f.acc = f.acc[:0]
	for len(f.acc) < length {
		if _, err := f.r.Peek(1); err != nil {
			return nil, frameOK, unexpected(err)
		}
		buf, _ := f.r.Peek(min(f.r.Buffered(), length-len(f.acc)))
		f.acc = append(f.acc, buf...)
		_, _ = f.r.Discard(len(buf))
	}
	return f.acc, frameOK, nil
}

// discard skips n bytes of the stream without keeping them.
func (f *frameReader) discard(n int) error {
	for n > 0 {
		d, err := f.r.Discard(min(n, 1<<20))
		n -= d
		if err != nil {
			return unexpected(err)
		}
	}
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// line reads up to the next LF or NUL, starting with prefix (bytes already
// consumed that belong to the record). It reports over when the record was
// longer than max; then it was discarded up to its trailer. At the end of
// the stream an unterminated record is returned, followed by io.EOF on the
// next call.
func (f *frameReader) line(prefix []byte) ([]byte, bool, error) {
	f.acc = append(f.acc[:0], prefix...)
	over := len(f.acc) > f.max
	if over {
		f.acc = f.acc[:0]
	}
	for {
		if _, err := f.r.Peek(1); err != nil {
			if errors.Is(err, io.EOF) && len(f.acc) > 0 && !over {
				return f.acc, false, nil
			}
			return nil, over, err
		}
		buf, _ := f.r.Peek(f.r.Buffered())
		i := bytes.IndexByte(buf, '\n')
		end := len(buf)
		if i >= 0 {
			end = i
		}
		if j := bytes.IndexByte(buf[:end], 0); j >= 0 {
			i, end = j, j
		}
		if !over {
			switch {
			case len(f.acc)+end > f.max:
				over = true
				f.acc = f.acc[:0]
			case i >= 0 && len(f.acc) == 0:
				// The whole record is in the buffer: no copy.
				_, _ = f.r.Discard(i + 1)
				return buf[:i], false, nil
			default:
				f.acc = append(f.acc, buf[:end]...)
			}
		}
		if i >= 0 {
			_, _ = f.r.Discard(i + 1)
			if over {
				return nil, true, nil
			}
			return f.acc, false, nil
		}
		_, _ = f.r.Discard(len(buf))
	}
}

// shrink drops a large accumulation buffer after use, so that one big
// record does not pin its memory for the connection's lifetime.
func (f *frameReader) shrink() {
	if cap(f.acc) > 64<<10 {
		f.acc = nil
	}
}
