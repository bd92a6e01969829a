package pyre

import (
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Literal sets for prefilters, read off the RE2 syntax tree of any
// pattern (not written by hand for a filter): the texts one of which
// every match starts with, and the texts one of which every match
// contains. A line holding none of a pattern's required texts cannot
// match it, so the pattern need not run.

// Bounds of the sets kept: a larger set filters too little to pay.
const (
	maxLitSet   = 64 // strings in one set
	maxClassLit = 8  // runes of a character class spelled out
)

// litInfo is what the analysis knows of a node. A nil set means nothing
// is known; no set holds "" (it would say nothing either).
type litInfo struct {
	exact    []string // every match is one of these
	exactOK  bool     // exact is complete (it may hold "": zero-width)
	pre, req []string // every match starts with / contains one of these
}

// literalSets returns the prefixes (nil unless expr is anchored at the
// start of the text) and the required texts of an RE2 expression.
func literalSets(expr string) (pre, req []string) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, nil
	}
	info := analyze(re)
	if anchoredAtStart(re) {
		pre = info.pre
	}
	return pre, info.req
}

// unionSets merges the sets of two forms of one pattern (nil when either
// knows nothing: a match of either form must be covered).
func unionSets(a, b []string) []string {
	if a == nil || b == nil {
		return nil
	}
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func anchoredAtStart(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginText:
		return true
	case syntax.OpCapture:
		return anchoredAtStart(re.Sub[0])
	case syntax.OpConcat:
		return len(re.Sub) > 0 && anchoredAtStart(re.Sub[0])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !anchoredAtStart(s) {
				return false
			}
		}
		return true
	}
	return false
}

// exactInfo is the info of a node that matches one of set exactly.
func exactInfo(set []string) litInfo {
	useful := usable(set)
	return litInfo{exact: set, exactOK: true, pre: useful, req: useful}
}

// usable returns set, or nil when it holds "" (or is too large).
func usable(set []string) []string {
	if len(set) == 0 || len(set) > maxLitSet || slices.Contains(set, "") {
		return nil
	}
	return set
}

func analyze(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpLiteral:
		return literalInfo(re)
	case syntax.OpCharClass:
		return classInfo(re.Rune)
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return exactInfo([]string{""})
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpQuest:
		return optional(analyze(re.Sub[0]))
	case syntax.OpPlus:
		s := analyze(re.Sub[0])
		return litInfo{pre: s.pre, req: s.req}
	case syntax.OpRepeat:
		s := analyze(re.Sub[0])
		switch {
		case re.Min == 1 && re.Max == 1:
			return s
		case re.Min == 0 && re.Max == 1:
			return optional(s)
		case re.Min >= 1:
			return litInfo{pre: s.pre, req: s.req}
		}
	case syntax.OpAlternate:
		return alternateInfo(re.Sub)
	case syntax.OpConcat:
		return concatInfo(re.Sub)
	}
	return litInfo{}
}

func optional(s litInfo) litInfo {
	if !s.exactOK || len(s.exact) >= maxLitSet {
		return litInfo{}
	}
	set := slices.Clone(s.exact)
	if !slices.Contains(set, "") {
		set = append(set, "")
	}
	return litInfo{exact: set, exactOK: true}
}

// literalInfo spells out a literal, in every case when it folds case (as
// far as the set stays small: then a prefix of it).
func literalInfo(re *syntax.Regexp) litInfo {
	if re.Flags&syntax.FoldCase == 0 {
		return exactInfo([]string{string(re.Rune)})
	}
	acc := []string{""}
	for _, r := range re.Rune {
		next := product(acc, foldOrbit(r))
		if next == nil {
			// Too many spellings: what is known is how a match starts.
			return litInfo{pre: usable(acc), req: usable(acc)}
		}
		acc = next
	}
	return exactInfo(acc)
}

// foldOrbit returns r and the runes that equal it ignoring case.
func foldOrbit(r rune) []string {
	out := []string{string(r)}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		out = append(out, string(f))
	}
	return out
}

func classInfo(ranges []rune) litInfo {
	var set []string
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			if len(set) == maxClassLit || !utf8.ValidRune(r) {
				return litInfo{}
			}
			set = append(set, string(r))
		}
	}
	return exactInfo(set)
}

// product returns every a+b, or nil when there would be too many.
func product(as, bs []string) []string {
	if len(as)*len(bs) > maxLitSet {
		return nil
	}
	out := make([]string, 0, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			if s := a + b; !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func alternateInfo(subs []*syntax.Regexp) litInfo {
	out := litInfo{exactOK: true}
	for i, s := range subs {
		si := analyze(s)
		if i == 0 {
			out.pre, out.req = slices.Clone(si.pre), slices.Clone(si.req)
		} else {
			out.pre, out.req = unionSets(out.pre, si.pre), unionSets(out.req, si.req)
		}
		if out.exactOK = out.exactOK && si.exactOK; out.exactOK {
			for _, x := range si.exact {
				if !slices.Contains(out.exact, x) {
					out.exact = append(out.exact, x)
				}
			}
		}
	}
	if out.exactOK = out.exactOK && len(out.exact) <= maxLitSet; !out.exactOK {
		out.exact = nil
	}
	out.pre, out.req = usable(out.pre), usable(out.req)
	return out
}

// concatInfo: a match of a sequence is one of its parts' exact sets after
// another; it starts with the exact parts that lead it (and then with the
// first other part's prefix); it contains what any part requires, or a
// run of exact parts.
func concatInfo(subs []*syntax.Regexp) litInfo {
	infos := make([]litInfo, len(subs))
	for i, s := range subs {
		infos[i] = analyze(s)
	}
	out := litInfo{pre: concatPrefix(infos)}
	acc, exact := []string{""}, true
	var cands [][]string
	for _, si := range infos {
		cands = append(cands, si.req)
		if si.exactOK {
			if next := product(acc, si.exact); next != nil {
				acc = next
				continue
			}
		}
		exact = false
		cands = append(cands, usable(acc))
		if si.pre != nil {
			cands = append(cands, usable(product(acc, si.pre)))
		}
		acc = []string{""}
		if si.exactOK {
			acc = si.exact
		}
	}
	cands = append(cands, usable(acc))
	if exact {
		out.exact, out.exactOK = acc, true
	}
	out.req = best(cands)
	return out
}

func concatPrefix(infos []litInfo) []string {
	acc := []string{""}
	for _, si := range infos {
		if si.exactOK {
			if next := product(acc, si.exact); next != nil {
				acc = next
				continue
			}
			return usable(acc)
		}
		if next := product(acc, si.pre); si.pre != nil && next != nil {
			return usable(next)
		}
		return usable(acc)
	}
	return usable(acc)
}

// best picks the set that filters most: its shortest string longest,
// then the fewest strings.
func best(cands [][]string) []string {
	var out []string
	for _, c := range cands {
		if c == nil {
			continue
		}
		if out == nil || shortest(c) > shortest(out) || shortest(c) == shortest(out) && len(c) < len(out) {
			out = c
		}
	}
	return out
}

func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

// maxLength returns the most bytes a match of re can span, or -1 when
// there is no bound.
func maxLength(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += maxRuneLen(r, re.Flags&syntax.FoldCase != 0)
		}
		return n
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return 0
		}
		return maxRuneLen(re.Rune[len(re.Rune)-1], false)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpCapture, syntax.OpQuest:
		return maxLength(re.Sub[0])
	case syntax.OpRepeat:
		if n := maxLength(re.Sub[0]); n >= 0 && re.Max >= 0 {
			return n * re.Max
		}
	case syntax.OpConcat, syntax.OpAlternate:
		total := 0
		for _, s := range re.Sub {
			n := maxLength(s)
			switch {
			case n < 0:
				return -1
			case re.Op == syntax.OpConcat:
				total += n
			default:
				total = max(total, n)
			}
		}
		return total
	}
	return -1
}

// maxRuneLen is r's UTF-8 length, or the longest of its case variants.
// (Text that is not UTF-8 is read a byte per rune: never longer.)
func maxRuneLen(r rune, fold bool) int {
	n := max(utf8.RuneLen(r), 1)
	for f := unicode.SimpleFold(r); fold && f != r; f = unicode.SimpleFold(f) {
		n = max(n, utf8.RuneLen(f))
	}
	return n
}

// searchBound returns how much of a text a start-anchored expression can
// look at: its longest match and one rune after it (where $, \b and \z
// look). A match found in that much of the text is the match in all of
// it, so a longer text can be cut there. -1: no bound.
func searchBound(expr string) int {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil || !anchoredAtStart(re) {
		return -1
	}
	if n := maxLength(re); n >= 0 {
		return n + utf8.UTFMax
	}
	return -1
}
