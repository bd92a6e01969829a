package matcher

import "bytes"

// litSet tells whether a text holds any of a set of strings, in one pass:
// the first k bytes of each string (k ≤ 4, at most the shortest one's
// length) are hashed into a bitmap that is looked up at every offset of
// the text; only a hit compares whole strings. It is the prefilter of
// the failregexes: a line that holds none of the texts every failregex
// requires (pyre.Regexp.Required) reaches neither the prefregex nor a
// failregex.
type litSet struct {
	k     int
	mask  uint32
	bits  [1 << (hashBits - 6)]uint64
	byKey map[uint32][]string
}

const hashBits = 16

// minLitKey is the shortest string worth a prefilter: shorter ones are
// in too many lines to reject any.
const minLitKey = 3

// newLitSet returns the set of strs, or nil when one is shorter than
// minLitKey.
func newLitSet(strs []string) *litSet {
	if len(strs) == 0 {
		return nil
	}
	k := 4
	for _, s := range strs {
		if len(s) < minLitKey {
			return nil
		}
		k = min(k, len(s))
	}
	s := &litSet{k: k, mask: uint32(uint64(1)<<(8*k) - 1), byKey: map[uint32][]string{}}
	for _, str := range strs {
		key := s.key([]byte(str[:k]))
		h := hashKey(key)
		s.bits[h>>6] |= 1 << (h & 63)
		s.byKey[key] = append(s.byKey[key], str)
	}
	return s
}

func (s *litSet) key(b []byte) uint32 {
	var key uint32
	for _, c := range b {
		key = key<<8 | uint32(c)
	}
	return key
}

func hashKey(key uint32) uint32 { return (key * 0x9E3779B1) >> (32 - hashBits) }

// in tells whether b holds one of the strings.
func (s *litSet) in(b []byte) bool {
	if len(b) < s.k {
		return false
	}
	key := s.key(b[:s.k-1])
	for i := s.k - 1; i < len(b); i++ {
		key = (key<<8 | uint32(b[i])) & s.mask
		h := hashKey(key)
		if s.bits[h>>6]&(1<<(h&63)) != 0 && s.verify(b[i+1-s.k:], key) {
			return true
		}
	}
	return false
}

func (s *litSet) verify(b []byte, key uint32) bool {
	for _, str := range s.byKey[key] {
		if len(b) >= len(str) && string(b[:len(str)]) == str {
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
