package pyre

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// Splitting a large program into paths.
//
// Go's regexp runs a program of more than 500 instructions on its NFA,
// several times slower than its backtracker (a rewritten conditional
// easily gets there: fail2ban's sshd "Failed …" failregex has ~1000). A
// pattern anchored at the start that is a sequence with alternations in
// it, X (A|B) Y, is run instead as one program per choice of those
// alternations — X A Y, then X B Y — each under the limit, tried in the
// order a backtracking engine tries the choices; the first that matches
// gives the match and its groups.
//
// That is the pattern's own leftmost-first match when what comes before
// the last split alternation can match the text in one way only (given
// the choices): then the only choices before it are the split ones, and
// the paths are tried in their order. The split is kept only when that is
// shown: every repetition there is of one character class and is followed
// by a character that class cannot match (as in \S+ followed by a space).

// maxBacktrackInsts is the largest program Go's regexp backtracks.
const maxBacktrackInsts = 500

// maxPaths bounds the programs of one split.
const maxPaths = 16

// paths is a split pattern: its programs in order, and for each the group
// of the whole program each of its groups stands for.
type paths struct {
	progs    []*regexp.Regexp
	prefixes [][]string // per program: its literal prefixes (nil: none)
	groups   [][]int
	ncap     int
}

// lazyPaths are the paths of expr, worked out on the first get (a Regexp
// is shared by goroutines). A nil *lazyPaths has none.
type lazyPaths struct {
	once  sync.Once
	expr  string
	paths *paths
}

func (l *lazyPaths) get() *paths {
	if l == nil {
		return nil
	}
	l.once.Do(func() { l.paths = splitPaths(l.expr) })
	return l.paths
}

// splitPaths returns the paths of the RE2 expression expr, or nil when it
// fits the backtracker or cannot be split.
func splitPaths(expr string) *paths {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil || progSize(re) <= maxBacktrackInsts || re.Op != syntax.OpConcat || !anchoredAtStart(re) {
		return nil
	}
	ncap := re.MaxCap()
	nameGroups(re)
	seqs, last := expand(re.Sub)
	if seqs == nil {
		return nil
	}
	p := &paths{ncap: ncap}
	for _, seq := range seqs {
		if !forced(seq[:last]) {
			return nil
		}
		s := (&syntax.Regexp{Op: syntax.OpConcat, Sub: seq}).String()
		prog, err := regexp.Compile(s)
		if err != nil {
			return nil
		}
		groups := make([]int, prog.NumSubexp()+1)
		for i, n := range prog.SubexpNames() {
			groups[i], _ = strconv.Atoi(strings.TrimPrefix(n, "g"))
		}
		pre, _ := literalSets(s)
		p.progs, p.prefixes, p.groups = append(p.progs, prog), append(p.prefixes, pre), append(p.groups, groups)
	}
	return p
}

func progSize(re *syntax.Regexp) int {
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

// nameGroups names every group gN after its number N in the whole
// program, so a path's groups can be told apart.
func nameGroups(re *syntax.Regexp) {
	if re.Op == syntax.OpCapture {
		re.Name = "g" + strconv.Itoa(re.Cap)
	}
	for _, s := range re.Sub {
		nameGroups(s)
	}
}

// expand splits the alternations of a sequence from the left until every
// path fits the backtracker; it returns the paths in the order they are
// tried and the index of the last split item (nil: no split works).
func expand(items []*syntax.Regexp) ([][]*syntax.Regexp, int) {
	seqs := [][]*syntax.Regexp{slices.Clone(items)}
	for k, it := range items {
		branches := alternatives(it)
		if branches == nil {
			continue
		}
		if len(seqs)*len(branches) > maxPaths {
			return nil, 0
		}
		var next [][]*syntax.Regexp
		for _, seq := range seqs {
			for _, b := range branches {
				s := slices.Clone(seq)
				s[k] = b
				next = append(next, s)
			}
		}
		seqs = next
		if allFit(seqs) {
			return seqs, k
		}
	}
	return nil, 0
}

// alternatives returns the branches of an alternation, or of a group
// around one (each in a copy of the group), or nil.
func alternatives(re *syntax.Regexp) []*syntax.Regexp {
	switch {
	case re.Op == syntax.OpAlternate:
		return re.Sub
	case re.Op == syntax.OpCapture && re.Sub[0].Op == syntax.OpAlternate:
		var out []*syntax.Regexp
		for _, b := range re.Sub[0].Sub {
			g := *re
			g.Sub = []*syntax.Regexp{b}
			out = append(out, &g)
		}
		return out
	}
	return nil
}

func allFit(seqs [][]*syntax.Regexp) bool {
	for _, s := range seqs {
		if progSize(&syntax.Regexp{Op: syntax.OpConcat, Sub: s}) > maxBacktrackInsts {
			return false
		}
	}
	return true
}

// atom is one character position of a flattened sequence: the runes it
// may be, and whether it repeats (a choice of how many).
type atom struct {
	class  []rune // ranges
	varies bool
	min1   bool // it takes at least one character
}

// forced tells whether a sequence can match a text in one way at most:
// it is made of literals, classes, groups and zero-width assertions, and
// each repetition of a class is followed by a character it cannot match.
func forced(seq []*syntax.Regexp) bool {
	var atoms []atom
	for _, re := range seq {
		var ok bool
		if atoms, ok = flatten(re, atoms); !ok {
			return false
		}
	}
	for i, a := range atoms {
		if !a.varies {
			continue
		}
		if i+1 >= len(atoms) || !atoms[i+1].min1 || overlaps(a.class, atoms[i+1].class) {
			return false
		}
	}
	// The last atom before the split alternation must not vary: what
	// follows it depends on the branch.
	return len(atoms) == 0 || !atoms[len(atoms)-1].varies
}

func flatten(re *syntax.Regexp, out []atom) ([]atom, bool) {
	switch re.Op {
	case syntax.OpConcat, syntax.OpCapture:
		for _, s := range re.Sub {
			var ok bool
			if out, ok = flatten(s, out); !ok {
				return nil, false
			}
		}
		return out, true
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return out, true
	case syntax.OpLiteral, syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		for _, c := range charClasses(re) {
			out = append(out, atom{class: c, min1: true})
		}
		return out, true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		cs := charClasses(re.Sub[0])
		if len(cs) != 1 {
			return nil, false
		}
		min := 1
		switch re.Op {
		case syntax.OpStar, syntax.OpQuest:
			min = 0
		case syntax.OpRepeat:
			min = re.Min
		}
		return append(out, atom{class: cs[0], varies: true, min1: min >= 1}), true
	}
	return nil, false
}

// charClasses returns the class of each character a node of single
// characters matches, or nil for any other node.
func charClasses(re *syntax.Regexp) [][]rune {
	switch re.Op {
	case syntax.OpLiteral:
		var out [][]rune
		for _, r := range re.Rune {
			c := []rune{r, r}
			if re.Flags&syntax.FoldCase != 0 {
				c = nil
				for f := unicode.SimpleFold(r); ; f = unicode.SimpleFold(f) {
					c = append(c, f, f)
					if f == r {
						break
					}
				}
			}
			out = append(out, c)
		}
		return out
	case syntax.OpCharClass:
		return [][]rune{re.Rune}
	case syntax.OpAnyCharNotNL:
		return [][]rune{{0, '\n' - 1, '\n' + 1, unicode.MaxRune}}
	case syntax.OpAnyChar:
		return [][]rune{{0, unicode.MaxRune}}
	}
	return nil
}

func overlaps(a, b []rune) bool {
	for i := 0; i+1 < len(a); i += 2 {
		for j := 0; j+1 < len(b); j += 2 {
			if a[i] <= b[j+1] && b[j] <= a[i+1] {
				return true
			}
		}
	}
	return false
}

// find returns the match of the first path that matches b, laid out in
// the whole program's groups, or nil.
func (p *paths) find(b []byte) []int {
	for i, prog := range p.progs {
		if !startsWithAny(b, p.prefixes[i]) {
			continue
		}
		loc := prog.FindSubmatchIndex(b)
		if loc == nil {
			continue
		}
		out := make([]int, 2*(p.ncap+1))
		for k := range out {
			out[k] = -1
		}
		for j, g := range p.groups[i] {
			out[2*g], out[2*g+1] = loc[2*j], loc[2*j+1]
		}
		return out
	}
	return nil
}

// match tells whether a path matches b (any path: order does not matter).
func (p *paths) match(b []byte) bool {
	for i, prog := range p.progs {
		if startsWithAny(b, p.prefixes[i]) && prog.Match(b) {
			return true
		}
	}
	return false
}

func startsWithAny(b []byte, prefixes []string) bool {
	if prefixes == nil {
		return true
	}
	for _, s := range prefixes {
		if len(b) >= len(s) && string(b[:len(s)]) == s {
			return true
		}
	}
	return false
}
