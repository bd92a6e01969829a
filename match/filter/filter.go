// Package filter compiles a filter's Rules into the match.Matcher of their
// dialect: logjail's own (match/native) or fail2ban's
// (match/fail2ban/matcher).
//
// It sits above package match and both implementations because each
// implementation builds on match's types (Rules, Failure, Outcome): match
// cannot import them back without a cycle. A closed table here, rather
// than implementations registering themselves with match from init(),
// keeps the choice visible and makes a missing dialect a compile error,
// not a runtime one.
package filter

import (
	"fmt"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/fail2ban/matcher"
	"github.com/logjail/logjail/match/native"
)

type compiler func(pipeline string, r match.Rules) (match.Matcher, error)

// compilers is the implementation of each dialect.
var compilers = map[match.Dialect]compiler{
	match.DialectLogjail:  adapt(native.Compile),
	match.DialectFail2ban: adapt(matcher.Compile),
}

// adapt returns an implementation's Compile as a compiler, with a nil
// interface (not a typed nil pointer) on error.
func adapt[M match.Matcher](compile func(string, match.Rules) (M, error)) compiler {
	return func(pipeline string, r match.Rules) (match.Matcher, error) {
		m, err := compile(pipeline, r)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}

// Compile builds the matcher of pipeline from r, with the implementation
// of r.Dialect.
func Compile(pipeline string, r match.Rules) (match.Matcher, error) {
	compile, ok := compilers[r.Dialect]
	if !ok {
		return nil, fmt.Errorf("unknown filter dialect %d", r.Dialect)
	}
	return compile(pipeline, r)
}
