package pyre

import (
	"regexp"
	"strings"
)

// Rewriting (?:(?!L).)* for RE2, where L is literal text: "characters,
// none of which starts L". Where what follows is known, the characters it
// takes are known too, whatever the quantifier's greed:
//
//   - followed by L: everything up to the first L (none can start L, and
//     L starts right after them);
//   - followed by $: the rest of the line, which must hold no L.
//
// Either set of strings is regular; avoidExpr writes it from the
// Knuth–Morris–Pratt automaton of L. Anywhere else the look-ahead stays
// and the pattern runs on the backtracking engine.

// avoidItem reports the literal text L of an item (?:(?!L).)* or its lazy
// form, or "".
func avoidItem(it item) string {
	if it.g == nil || it.g.open != "(?:" || len(it.g.alts) != 1 || it.quant != "*" && it.quant != "*?" {
		return ""
	}
	body := it.g.alts[0]
	if len(body) != 2 || body[1].atom != "." || body[1].quant != "" || body[0].quant != "" {
		return ""
	}
	la := body[0].g
	if la == nil || la.open != "(?!" || len(la.alts) != 1 {
		return ""
	}
	lit, n := literalPrefix(la.alts[0])
	if n != len(la.alts[0]) || lit == "" {
		return ""
	}
	return lit
}

// literalPrefix returns the literal ASCII text the items start with and
// how many items it takes.
func literalPrefix(seq []item) (string, int) {
	var b strings.Builder
	for n, it := range seq {
		c, ok := literalChar(it)
		if !ok {
			return b.String(), n
		}
		b.WriteByte(c)
	}
	return b.String(), len(seq)
}

func literalChar(it item) (byte, bool) {
	a := it.atom
	if it.g != nil || it.quant != "" || a == "" {
		return 0, false
	}
	if len(a) == 2 && a[0] == '\\' && a[1] < 0x7f && !isASCIILetter(a[1]) && !isDigit(a[1]) {
		return a[1], a[1] != '\n'
	}
	if len(a) == 1 && a[0] > ' ' && a[0] < 0x7f && !strings.ContainsRune(`\.+*?()|[]{}^$`, rune(a[0])) || a == " " {
		return a[0], true
	}
	return 0, false
}

// follow is what is known to come after a place in the pattern: literal
// text, then (when end) a $.
type follow struct {
	lit string
	end bool
}

// rewriteAvoids returns seq with the look-ahead loops whose follower is
// known replaced; fol is what follows seq. It copies what it changes:
// a group may sit in several places (cond.go), each with its follower.
func rewriteAvoids(seq []item, fol follow) []item {
	out := make([]item, len(seq))
	for k, it := range seq {
		out[k] = it
		next := followOf(seq[k+1:], fol)
		if l := avoidItem(it); l != "" {
			if expr, ok := avoidFor(l, next); ok {
				out[k] = item{g: &pgroup{open: "(?:", alts: [][]item{{{atom: expr}}}}}
			}
			continue
		}
		if it.g == nil || it.g.opaque {
			continue
		}
		if it.quant != "" {
			next = follow{}
		}
		copied := *it.g
		copied.alts = make([][]item, len(it.g.alts))
		for a, alt := range it.g.alts {
			copied.alts[a] = rewriteAvoids(alt, next)
		}
		out[k].g = &copied
	}
	return out
}

// followOf is what is known to follow the start of rest.
func followOf(rest []item, fol follow) follow {
	lit, n := literalPrefix(rest)
	switch {
	case n == len(rest):
		return follow{lit + fol.lit, fol.end}
	case n == len(rest)-1 && rest[n].atom == "$" && rest[n].quant == "":
		return follow{lit, true}
	}
	return follow{lit: lit}
}

// avoidFor writes (?:(?!l).)* for what follows it, when that settles it.
func avoidFor(l string, next follow) (string, bool) {
	switch {
	case strings.HasPrefix(next.lit, l):
		return avoidExpr(l, true), true
	case next.lit == "" && next.end:
		return avoidExpr(l, false), true
	}
	return "", false
}

// flagsSorI finds flags that change what . or a literal matches.
var flagsSorI = regexp.MustCompile(`\(\?[a-zA-Z-]*[isx]`)

// avoidExpr writes, in Python's syntax, the strings of characters other
// than a newline in none of which l starts: followed by l when
// followedByL (so l must not start in what it overlaps), else by the end
// of the line. States of the automaton count how much of l was just read;
// reaching len(l) is forbidden. Eliminating the states one by one turns
// it into an expression (RE2 picks nothing inside it: the text it takes
// is settled by what follows).
func avoidExpr(l string, followedByL bool) string {
	m := len(l)
	delta := kmp(l)
	start, end := m, m+1
	r := make([][]*string, m+2)
	for i := range r {
		r[i] = make([]*string, m+2)
	}
	eps := ""
	r[start][0] = &eps
	for q := 0; q < m; q++ {
		for t, label := range edgeLabels(l, delta[q]) {
			r[q][t] = &label
		}
		if !followedByL || overlapOK(delta, q, l) {
			r[q][end] = &eps
		}
	}
	for k := m - 1; k >= 0; k-- {
		loop := reStar(r[k][k])
		for i := range r {
			for j := range r {
				if i == k || j == k || r[i][k] == nil || r[k][j] == nil {
					continue
				}
				r[i][j] = reUnion(r[i][j], *r[i][k]+loop+*r[k][j])
			}
		}
		for i := range r {
			r[i][k], r[k][i] = nil, nil
		}
	}
	if r[start][end] == nil {
		return "(?!)"
	}
	return *r[start][end]
}

// kmp returns the automaton of l: delta[q][c] is the state after reading
// byte c in state q (how much of l was just read).
func kmp(l string) [][256]int {
	m := len(l)
	delta := make([][256]int, m)
	back := 0 // the state after reading l[1:q]
	for q := 0; q < m; q++ {
		if q > 0 {
			delta[q] = delta[back]
		}
		delta[q][l[q]] = q + 1
		if q > 0 {
			back = delta[back][l[q]]
		}
	}
	return delta
}

// overlapOK tells whether l can follow text that leaves state q without
// an l starting before it.
func overlapOK(delta [][256]int, q int, l string) bool {
	for k := 0; k < len(l)-1; k++ {
		if q = delta[q][l[k]]; q == len(l) {
			return false
		}
	}
	return true
}

// edgeLabels returns, per next state below len(l), the class of the
// characters that lead there from a state with transitions row.
func edgeLabels(l string, row [256]int) map[int]string {
	byTarget := map[int]string{}
	var elsewhere string // characters of l that do not lead to 0
	seen := map[byte]bool{}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if seen[c] {
			continue
		}
		seen[c] = true
		if t := row[c]; t != 0 {
			elsewhere += classLitByte(c)
			if t < len(l) {
				byTarget[t] += classLitByte(c)
			}
		}
	}
	for t, cs := range byTarget {
		byTarget[t] = "[" + cs + "]"
	}
	byTarget[0] = `[^` + elsewhere + `\n]`
	return byTarget
}

func classLitByte(c byte) string {
	return `\x` + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
}

func reStar(s *string) string {
	if s == nil || *s == "" {
		return ""
	}
	return "(?:" + *s + ")*"
}

func reUnion(a *string, b string) *string {
	if a == nil {
		return &b
	}
	u := "(?:" + *a + "|" + b + ")"
	return &u
}
