package native

// The failregexes a line's content may match, by its first byte: when
// every failregex starts with literal text (see match.AnchoredPrefix),
// only those whose text starts with the content's first byte can match,
// and most lines of a log (other programs', whose content is the whole
// line) start with a byte none does: they cost no look at any regex.

// firstBytes returns, per byte, the failregexes (in order) whose literal
// prefix starts with it; nil when a failregex has none.
func firstBytes(fail []failRegex) [][]int {
	if !allPrefixed(fail) {
		return nil
	}
	by := make([][]int, 256)
	for i, fr := range fail {
		c := fr.prefix[0]
		by[c] = append(by[c], i)
	}
	return by
}

// candidates returns the failregexes that may match content text, in
// order.
func (m *Matcher) candidates(text string) []int {
	if m.byFirst == nil {
		return m.every
	}
	if text == "" {
		return nil
	}
	return m.byFirst[text[0]]
}

// allPrefixed tells that every failregex starts with literal text (see
// match.AnchoredPrefix).
func allPrefixed(fail []failRegex) bool {
	for _, fr := range fail {
		if fr.prefix == "" {
			return false
		}
	}
	return len(fail) > 0
}
