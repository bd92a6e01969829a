package asciire

// FirstBytes exposes the bytes a match may start with to the tests.
func (a *Regexp) FirstBytes() (set [2]uint64, any, atEnd bool) {
	return a.first, a.firstAny, a.firstAtEnd
}
