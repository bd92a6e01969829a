package file

import (
	"bytes"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	tests := []Cursor{
		{},
		{Offset: 5, Dev: 2049, Ino: 1234, HeadLen: 5, HeadSum: headSum([]byte("abcd\n"))},
		{Offset: 1 << 40, Dev: 1<<64 - 1, Ino: 1<<64 - 1, HeadLen: headSize, HeadSum: headSum(make([]byte, headSize))},
	}
	for _, c := range tests {
		got, err := ParseCursor(c.Encode())
		if err != nil {
			t.Fatalf("ParseCursor(%q): %v", c.Encode(), err)
		}
		if got != c {
			t.Errorf("round trip %+v -> %q -> %+v", c, c.Encode(), got)
		}
		// The per-line fast path must produce the same bytes.
		if fast := encodeWith(c.Offset, c.appendSuffix(nil)); !bytes.Equal(fast, c.Encode()) {
			t.Errorf("encodeWith %q != Encode %q", fast, c.Encode())
		}
	}
}

func TestParseCursorRejects(t *testing.T) {
	sum := "00112233445566778899aabbccddeeff"
	tests := []string{
		"",
		"garbage",
		"2:5:1:2:5:" + sum,             // unknown version
		"1:5:1:2:5",                    // missing field
		"1:5:1:2:5:" + sum + ":x",      // extra field
		"1:-5:1:2:0:" + sum,            // negative offset
		"1:5:1:2:4:" + sum,             // head length disagrees with offset
		"1:5000:1:2:5000:" + sum,       // head length over 1 KiB
		"1:0:1:2:0:" + sum[:30],        // short sum
		"1:0:1:2:0:" + sum[:30] + "zz", // not hex
		"1:x:1:2:0:" + sum,
		"1:0:-1:2:0:" + sum,
		"1:0:1:two:0:" + sum,
	}
	for _, s := range tests {
		if c, err := ParseCursor([]byte(s)); err == nil {
			t.Errorf("ParseCursor(%q) = %+v, want error", s, c)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add(Cursor{Offset: 7, Ino: 3, HeadLen: 7}.Encode())
	f.Add([]byte("1:0:0:0:0:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCursor(b)
		if err != nil {
			return
		}
		if c.Offset < 0 || int64(c.HeadLen) != min(c.Offset, headSize) {
			t.Fatalf("accepted inconsistent cursor %+v", c)
		}
		if again, err := ParseCursor(c.Encode()); err != nil || again != c {
			t.Fatalf("re-encode %+v: %+v, %v", c, again, err)
		}
	})
}
