package file

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// headSize is how much of a file's start the fingerprint covers. Log lines
// start with timestamps, so the first KiB tells two files apart even when an
// inode number has been reused.
const headSize = 1024

// cursorVersion prefixes every encoded cursor so that the format can change
// without misreading old positions.
const cursorVersion = "1"

// Cursor is the decoded form of the Position.Value a Tail emits: how far a
// file was read and enough identity to tell, after a restart, whether the
// file at that path is still the same one.
type Cursor struct {
	Offset int64 // bytes consumed, always just after a line
	Dev    uint64
	Ino    uint64
	// HeadLen is how many leading bytes HeadSum covers: min(Offset, 1024).
	// Only bytes already read are fingerprinted, so the check on resume
	// never depends on data written after the position was taken.
	HeadLen int
	HeadSum [16]byte // truncated SHA-256 of the first HeadLen bytes
}

// headSum fingerprints the start of a file.
func headSum(head []byte) [16]byte {
	full := sha256.Sum256(head)
	var s [16]byte
	copy(s[:], full[:])
	return s
}

// Encode renders c as "1:offset:dev:ino:headlen:hexsum"; text keeps stored
// positions readable when debugging.
func (c Cursor) Encode() []byte {
	return encodeWith(c.Offset, c.appendSuffix(nil))
}

// appendSuffix appends ":dev:ino:headlen:hexsum", the part of an encoded
// cursor that does not change once the first KiB of a file has been read.
func (c Cursor) appendSuffix(b []byte) []byte {
	b = append(b, ':')
	b = strconv.AppendUint(b, c.Dev, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, c.Ino, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(c.HeadLen), 10)
	b = append(b, ':')
	return hex.AppendEncode(b, c.HeadSum[:])
}

// encodeWith builds an encoded cursor from an offset and a precomputed
// suffix in one allocation.
func encodeWith(offset int64, suffix []byte) []byte {
	return appendEncoded(make([]byte, 0, encodedLen(suffix)), offset, suffix)
}

// encodedLen bounds the length of a cursor encoded with suffix.
func encodedLen(suffix []byte) int { return len(cursorVersion) + 1 + 20 + len(suffix) }

// appendEncoded appends the cursor of offset and suffix to b.
func appendEncoded(b []byte, offset int64, suffix []byte) []byte {
	b = append(b, cursorVersion...)
	b = append(b, ':')
	b = strconv.AppendInt(b, offset, 10)
	return append(b, suffix...)
}

// posArenaSize is the block the cursors of entries are cut from: one
// allocation for a hundred lines or so, not one a line.
const posArenaSize = 8 << 10

// cut returns the cursor of offset and suffix, cut from the arena (a
// new block when it is full): the per-line fast path.
func cut(arena *[]byte, offset int64, suffix []byte) []byte {
	b := *arena
	if n := encodedLen(suffix); cap(b)-len(b) < n {
		b = make([]byte, 0, max(posArenaSize, n))
	}
	start := len(b)
	b = appendEncoded(b, offset, suffix)
	*arena = b
	return b[start:len(b):len(b)]
}

// ParseCursor decodes a Position.Value produced by a Tail. It is strict:
// a value that is not exactly what Encode writes is rejected, so a damaged
// store can never make the Tail seek somewhere arbitrary.
func ParseCursor(b []byte) (Cursor, error) {
	var c Cursor
	f := strings.Split(string(b), ":")
	if len(f) != 6 || f[0] != cursorVersion {
		return c, errors.New("file: bad position: unknown format")
	}
	var err error
	if c.Offset, err = strconv.ParseInt(f[1], 10, 64); err != nil || c.Offset < 0 {
		return c, fmt.Errorf("file: bad position offset %q", f[1])
	}
	if c.Dev, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return c, fmt.Errorf("file: bad position device %q", f[2])
	}
	if c.Ino, err = strconv.ParseUint(f[3], 10, 64); err != nil {
		return c, fmt.Errorf("file: bad position inode %q", f[3])
	}
	hl, err := strconv.Atoi(f[4])
	if err != nil || int64(hl) != min(c.Offset, headSize) {
		return c, fmt.Errorf("file: bad position head length %q", f[4])
	}
	c.HeadLen = hl
	if len(f[5]) != 2*len(c.HeadSum) {
		return c, errors.New("file: bad position fingerprint")
	}
	if _, err := hex.Decode(c.HeadSum[:], []byte(f[5])); err != nil {
		return c, errors.New("file: bad position fingerprint")
	}
	return c, nil
}
