package match

import "regexp/syntax"

// AnchoredPrefix returns the literal text every match of a start-anchored
// RE2 expression begins with ("^Failed (?:password|…" → "Failed "), or "".
// Checking it with strings.HasPrefix before running the regexp rejects
// most lines in nanoseconds; Go's regexp does not do this itself for
// anchored patterns.
func AnchoredPrefix(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
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
	prefix, _ := literalPrefix(re.Sub[1:], nil)
	return string(prefix)
}

// literalPrefix appends to prefix the literal text subs, a concatenation,
// begin with, descending into captured concatenations ("(?P<x>Accepted
// \w+)"); done tells that it stopped before the end of subs.
func literalPrefix(subs []*syntax.Regexp, prefix []rune) ([]rune, bool) {
	for _, s := range subs {
		for s.Op == syntax.OpCapture && len(s.Sub) == 1 {
			s = s.Sub[0]
		}
		if s.Op == syntax.OpConcat {
			var done bool
			if prefix, done = literalPrefix(s.Sub, prefix); done {
				return prefix, true
			}
			continue
		}
		if s.Op != syntax.OpLiteral || s.Flags&syntax.FoldCase != 0 {
			return prefix, true
		}
		prefix = append(prefix, s.Rune...)
	}
	return prefix, false
}
