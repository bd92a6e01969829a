package match

import "github.com/logjail/logjail/match/pyre"

// anchoredPrefix returns the literal text every match of an expanded,
// start-anchored pattern begins with (see pyre.AnchoredPrefix).
func anchoredPrefix(pattern string) string { return pyre.AnchoredPrefix(pattern) }
