package match

import (
	"regexp/syntax"
)

// anchoredPrefix returns the literal text every match of an expanded,
// start-anchored pattern begins with ("^Failed (?:password|…" → "Failed "),
// or "". Checking it with strings.HasPrefix before running the regexp
// rejects most lines in nanoseconds; Go's regexp does not do this itself
// for anchored patterns.
func anchoredPrefix(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	for re.Op == syntax.OpCapture && len(re.Sub) == 1 {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	var prefix []rune
	for _, s := range re.Sub[1:] {
		if s.Op != syntax.OpLiteral || s.Flags&syntax.FoldCase != 0 {
			break
		}
		prefix = append(prefix, s.Rune...)
	}
	return string(prefix)
}
