package matcher

import "bytes"

// litSet tells whether a text holds any of a set of strings, in one pass:
// the k-byte pieces (k ≤ 4, at most the shortest string's length) at the
// first `stride` offsets of each string are hashed into a bitmap, and the
// text's k bytes at every stride-th offset are looked up in it; only a
// hit compares whole strings. A string of at least k+stride-1 bytes has a
// piece at one of its first stride offsets that starts at such an offset
// of the text, wherever the string is: so the text is read a stride at a
// time, not a byte. It is the prefilter of the failregexes: a line that
// holds none of the texts every failregex requires
// (pyre.Regexp.Required) reaches neither the prefregex nor a failregex.
type litSet struct {
	k      int
	stride int
	bits   [1 << (hashBits - 6)]uint64
	byKey  map[uint32][]litAt
}

// litAt is a string whose piece at offset off has the key it is filed
// under.
type litAt struct {
	str string
	off int
}

const (
	hashBits = 16
	// maxStride bounds the stride: longer strides file more pieces for
	// few more bytes skipped.
	maxStride = 8
)

// minLitKey is the shortest string worth a prefilter: shorter ones are
// in too many lines to reject any.
const minLitKey = 3

// newLitSet returns the set of strs, or nil when one is shorter than
// minLitKey.
func newLitSet(strs []string) *litSet {
	if len(strs) == 0 {
		return nil
	}
	k, shortest := 4, len(strs[0])
	for _, s := range strs {
		if len(s) < minLitKey {
			return nil
		}
		k, shortest = min(k, len(s)), min(shortest, len(s))
	}
	s := &litSet{k: k, stride: min(shortest-k+1, maxStride), byKey: map[uint32][]litAt{}}
	for _, str := range strs {
		for off := 0; off < s.stride; off++ {
			key := s.key([]byte(str[off : off+k]))
			h := hashKey(key)
			s.bits[h>>6] |= 1 << (h & 63)
			s.byKey[key] = append(s.byKey[key], litAt{str: str, off: off})
		}
	}
	return s
}

func (s *litSet) key(b []byte) uint32 {
	var key uint32
	for _, c := range b[:s.k] {
		key = key<<8 | uint32(c)
	}
	return key
}

func hashKey(key uint32) uint32 { return (key * 0x9E3779B1) >> (32 - hashBits) }

// in tells whether b holds one of the strings.
func (s *litSet) in(b []byte) bool {
	for at := 0; at+s.k <= len(b); at += s.stride {
		key := s.key(b[at:])
		h := hashKey(key)
		if s.bits[h>>6]&(1<<(h&63)) != 0 && s.verify(b, at, key) {
			return true
		}
	}
	return false
}

// verify tells whether a string filed under key lies in b with its piece
// at offset at.
func (s *litSet) verify(b []byte, at int, key uint32) bool {
	for _, l := range s.byKey[key] {
		start := at - l.off
		if start >= 0 && len(b)-start >= len(l.str) && string(b[start:start+len(l.str)]) == l.str {
			return true
		}
	}
	return false
}

// hasPrefix tells whether b starts with one of prefixes (true when there
// are none: nothing is known).
func hasPrefix(b []byte, prefixes [][]byte) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if bytes.HasPrefix(b, p) {
			return true
		}
	}
	return false
}

// holdsAny tells whether b holds one of strs (true when there are none:
// nothing is known).
func holdsAny(b []byte, strs [][]byte) bool {
	if len(strs) == 0 {
		return true
	}
	for _, s := range strs {
		if bytes.Contains(b, s) {
			return true
		}
	}
	return false
}
