package native

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// prefilter keeps lines away from the regexes that cannot match them: every
// match of a failregex (and of the prefregex) contains certain literal
// strings, found in its syntax tree, and a line without one of a regex's
// literals never reaches that regex. Most lines of a log hold none of the
// failregexes' words, and strings.Index is far cheaper than a regex, so
// most lines cost a few substring searches and no regex at all.
//
// A prefilter belongs to its Matcher's goroutine: it keeps the current
// line's answers in place, so a line costs no allocation.
type prefilter struct {
	lits  []string // distinct required literals
	rare  []int    // per literal: the offset of its rarest byte, searched for first
	pref  []int    // indices into lits the prefregex requires
	need  [][]int  // per failregex: indices into lits it requires
	gate  []int    // indices into lits most failregexes require: see scan
	state []uint8  // per literal, for the current line: 0 not yet searched, else found or absent
}

const (
	litFound  = 1
	litAbsent = 2
)

// newPrefilter derives the literals of the expanded prefregex (empty when
// there is none) and failregexes. It returns nil when no regex requires any
// literal: then it would only cost time.
func newPrefilter(pref string, fail []string) *prefilter {
	p := &prefilter{}
	prefLits := requiredOf(pref)
	failLits := make([][]string, len(fail))
	var all []string
	for i, s := range fail {
		failLits[i] = requiredOf(s)
		all = append(all, failLits[i]...)
	}
	// A literal inside another that a regex requires is required too,
	// and when it is another regex's as well, one search answers both.
	for i := range failLits {
		failLits[i] = withImplied(failLits[i], all)
	}
	uses := map[string]int{}
	for _, l := range failLits {
		for _, s := range l {
			uses[s]++
		}
	}
	p.pref = p.index(prefLits, uses)
	any := len(p.pref) > 0
	for _, l := range failLits {
		idx := p.index(l, uses)
		any = any || len(idx) > 0
		p.need = append(p.need, idx)
	}
	if !any {
		return nil
	}
	p.state = make([]uint8, len(p.lits))
	p.gate = gates(p.lits, p.need)
	return p
}

// gates returns the literals (of at least minImplied bytes) that more
// than half of the failregexes require, the most required first. Most
// lines of a log are some other program's and lack them: one search then
// turns most failregexes away at once, where their own most telling
// literals would each cost a search.
func gates(lits []string, need [][]int) []int {
	users := make([]int, len(lits))
	for _, idx := range need {
		for _, i := range idx {
			users[i]++
		}
	}
	var out []int
	for i, n := range users {
		if len(lits[i]) >= minImplied && 2*n > len(need) {
			out = append(out, i)
		}
	}
	slices.SortStableFunc(out, func(a, b int) int { return users[b] - users[a] })
	return out
}

// withImplied adds to lits those of all (of at least minImplied bytes:
// shorter ones reject few lines) that are inside one of lits.
func withImplied(lits, all []string) []string {
	out := slices.Clone(lits)
	for _, a := range all {
		if len(a) < minImplied || slices.Contains(out, a) {
			continue
		}
		if slices.ContainsFunc(lits, func(l string) bool { return strings.Contains(l, a) }) {
			out = append(out, a)
		}
	}
	return out
}

const minImplied = 4

// index returns the positions of lits in p.lits, adding those not yet
// there, the most telling first (see score); of equals, the one more
// regexes require, whose answer serves them all.
func (p *prefilter) index(lits []string, uses map[string]int) []int {
	slices.SortStableFunc(lits, func(a, b string) int {
		if sa, sb := score(a), score(b); sa != sb {
			return sb - sa
		}
		if uses[a] != uses[b] {
			return uses[b] - uses[a]
		}
		return len(b) - len(a)
	})
	var idx []int
	for _, l := range lits {
		i := slices.Index(p.lits, l)
		if i < 0 {
			i = len(p.lits)
			p.lits = append(p.lits, l)
			p.rare = append(p.rare, rarest(l))
		}
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	return idx
}

// score estimates how seldom a line holds lit: by its rarest byte (which
// is also the byte searched for, so a rare one is found fast) and by its
// length, up to six bytes, beyond which nearly any literal is rare.
func score(lit string) int {
	return rarity(lit[rarest(lit)]) + 6*min(len(lit)-1, 5)
}

// scan reports whether any failregex may match text: when none may, text
// is a miss. It stops at the first that may; may answers for the others,
// once the line's content has ruled most of them out by their first words.
func (p *prefilter) scan(text string) bool {
	p.reset()
	if !p.has(text, p.pref) {
		return false
	}
	for g := range p.gate {
		p.has(text, p.gate[g:g+1]) // see gates
	}
	for _, idx := range p.need {
		if p.has(text, idx) {
			return true
		}
	}
	return false
}

// reset forgets the last line's answers: may then answers for a new line
// (scan does it too).
func (p *prefilter) reset() { clear(p.state) }

// may reports whether failregex i may match text, the text last scanned
// (or since reset).
func (p *prefilter) may(text string, i int) bool { return p.has(text, p.need[i]) }

// has reports whether text contains every literal of idx, searching each
// literal at most once per line, and none when one is known to be absent.
func (p *prefilter) has(text string, idx []int) bool {
	for _, i := range idx {
		if p.state[i] == litAbsent {
			return false
		}
	}
	for _, i := range idx {
		if p.state[i] == 0 {
			p.state[i] = litAbsent
			if contains(text, p.lits[i], p.rare[i]) {
				p.state[i] = litFound
			}
		}
		if p.state[i] == litAbsent {
			return false
		}
	}
	return true
}

// contains reports whether text contains lit, searching for lit's byte at
// offset rare (one of its rarest) with the vectorised strings.IndexByte:
// searching for a literal's first byte, often a blank or a common letter,
// stops at nearly every word of a line.
func contains(text, lit string, rare int) bool {
	c, tail := lit[rare], len(lit)-rare
	for from := rare; from+tail <= len(text); {
		j := strings.IndexByte(text[from:len(text)-tail+1], c)
		if j < 0 {
			return false
		}
		at := from + j - rare
		if text[at:at+len(lit)] == lit {
			return true
		}
		from += j + 1
	}
	return false
}

// commonBytes lists the bytes of log lines from the most common on, roughly
// (English text, numbers, syslog punctuation). Bytes not listed are rarer.
const commonBytes = " etaoinsrhldcu0123456789m.:pfgwy=b-v[]kSTCAEIRNO/DLPMU,_()BFHGxKjqz;'\""

// rarity ranks byte c: the higher, the fewer lines hold it.
func rarity(c byte) int {
	if i := strings.IndexByte(commonBytes, c); i >= 0 {
		return i
	}
	return len(commonBytes)
}

// rarest returns the offset of lit's rarest byte (the first of equals).
func rarest(lit string) int {
	best := 0
	for i := 1; i < len(lit); i++ {
		if rarity(lit[i]) > rarity(lit[best]) {
			best = i
		}
	}
	return best
}

// requiredOf returns literal strings that every match of the expanded
// pattern contains; none when it cannot tell (or the pattern does not
// parse, which Compile reports on its own).
func requiredOf(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range required(re) {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// required walks a syntax tree for literals every match contains. It is
// conservative: what it cannot be sure of (alternations, optional parts,
// case folding) it leaves out.
func required(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase == 0 {
			// The parts around a U+FFFD (see exact).
			return slices.DeleteFunc(strings.Split(string(re.Rune), string(utf8.RuneError)), func(s string) bool { return s == "" })
		}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		return requiredConcat(re.Sub)
	}
	return nil
}

// requiredConcat joins adjacent exact literals of a concatenation into one
// literal and adds what each other part requires.
func requiredConcat(subs []*syntax.Regexp) []string {
	var out []string
	var run strings.Builder
	flush := func() {
		if run.Len() > 0 {
			out = append(out, run.String())
			run.Reset()
		}
	}
	for _, s := range subs {
		for s.Op == syntax.OpCapture {
			s = s.Sub[0]
		}
		if l, ok := exact(s); ok {
			run.WriteString(l)
			continue
		}
		flush()
		out = append(out, required(s)...)
	}
	flush()
	return out
}

// exact returns the text an OpLiteral node matches, if it matches only
// that text. A literal U+FFFD is left out: the regexp package matches it
// against any byte that is not UTF-8, which a substring search would not.
func exact(re *syntax.Regexp) (string, bool) {
	if re.Op != syntax.OpLiteral || re.Flags&syntax.FoldCase != 0 {
		return "", false
	}
	if slices.Contains(re.Rune, utf8.RuneError) {
		return "", false
	}
	return string(re.Rune), true
}
