package pyre

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A light tree of a Python pattern, for rewriting its conditionals
// (cond.go). It keeps every atom as written: rendering the tree gives back
// the pattern (comments dropped, capturing groups renamed), so the
// translator still reads and checks what RE2 runs.

// item is one element of a sequence: an atom as written, or a group, with
// its quantifier as written.
type item struct {
	atom  string
	g     *pgroup
	quant string
}

// pgroup is a parenthesised group.
type pgroup struct {
	open    string // "(?:", "(?i:", "(?=", ...; "" for a capturing group
	num     int    // Python group number of a capturing group (0: none)
	name    string // its name, "" when unnamed
	condNum int    // group a conditional (?(ref)...) tests (0: none)
	opaque  bool   // look-around or atomic group: never expanded
	alts    [][]item
}

// errNoRewrite: the pattern holds something the rewrite leaves alone.
var errNoRewrite = errors.New("pyre: no rewrite")

type treeParser struct {
	s      string
	i      int
	groups int
	byName map[string]int
}

// parseTree reads a Python pattern the translator accepts.
func parseTree(s string) ([]item, error) {
	p := &treeParser{s: s, byName: map[string]int{}}
	alts, err := p.alts()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) || len(alts) != 1 {
		// A top-level alternation: keep it simple, wrap it.
		if p.i != len(p.s) {
			return nil, errNoRewrite
		}
		return []item{{g: &pgroup{open: "(?:", alts: alts}}}, nil
	}
	return alts[0], nil
}

// alts reads alternatives up to a ")" or the end.
func (p *treeParser) alts() ([][]item, error) {
	var alts [][]item
	for {
		seq, err := p.seq()
		if err != nil {
			return nil, err
		}
		alts = append(alts, seq)
		if p.i < len(p.s) && p.s[p.i] == '|' {
			p.i++
			continue
		}
		return alts, nil
	}
}

// seq reads items up to a "|", a ")" or the end.
func (p *treeParser) seq() ([]item, error) {
	var seq []item
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '|' || c == ')' {
			break
		}
		if q := p.quantifier(); q != "" {
			if len(seq) == 0 || seq[len(seq)-1].quant != "" {
				return nil, errNoRewrite
			}
			seq[len(seq)-1].quant = q
			continue
		}
		it, skip, err := p.item()
		if err != nil {
			return nil, err
		}
		if !skip {
			seq = append(seq, it)
		}
	}
	return seq, nil
}

// quantifier reads a quantifier at p.i, or returns "".
func (p *treeParser) quantifier() string {
	start := p.i
	switch p.s[p.i] {
	case '*', '+', '?':
		p.i++
	case '{':
		_, _, n, ok := quantifier(p.s[p.i:])
		if !ok {
			return ""
		}
		p.i += n
	default:
		return ""
	}
	if p.i < len(p.s) && p.s[p.i] == '?' {
		p.i++
	}
	return p.s[start:p.i]
}

// item reads one atom or group; skip is set for a comment.
func (p *treeParser) item() (it item, skip bool, err error) {
	start := p.i
	switch c := p.s[p.i]; c {
	case '(':
		return p.group()
	case '[':
		p.skipClass()
	case '\\':
		if p.i+1 >= len(p.s) || isDigit(p.s[p.i+1]) && p.s[p.i+1] != '0' {
			return it, false, errNoRewrite // back-references
		}
		_, n := utf8.DecodeRuneInString(p.s[p.i+1:])
		p.i += 1 + n
	default:
		_, n := utf8.DecodeRuneInString(p.s[p.i:])
		p.i += n
	}
	return item{atom: p.s[start:p.i]}, false, nil
}

// skipClass moves past the class [...] at p.i.
func (p *treeParser) skipClass() {
	j := p.i + 1
	if j < len(p.s) && p.s[j] == '^' {
		j++
	}
	if j < len(p.s) && p.s[j] == ']' {
		j++
	}
	for j < len(p.s) && p.s[j] != ']' {
		if p.s[j] == '\\' {
			j++
		}
		j++
	}
	p.i = min(j+1, len(p.s))
}

// group reads a group at p.i (its "(").
func (p *treeParser) group() (item, bool, error) {
	rest := p.s[p.i:]
	g := &pgroup{}
	switch {
	case strings.HasPrefix(rest, "(?#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return item{}, false, errNoRewrite
		}
		p.i += end + 1
		return item{}, true, nil
	case strings.HasPrefix(rest, "(?P<"):
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return item{}, false, errNoRewrite
		}
		p.groups++
		g.num, g.name = p.groups, rest[4:end]
		p.byName[g.name] = g.num
		p.i += end + 1
	case strings.HasPrefix(rest, "(?("):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return item{}, false, errNoRewrite
		}
		ref := rest[3:end]
		num, err := strconv.Atoi(ref)
		if err != nil {
			num = p.byName[ref]
		}
		if num < 1 || num > p.groups {
			return item{}, false, errNoRewrite
		}
		g.condNum = num
		p.i += end + 1
	case !strings.HasPrefix(rest, "(?"):
		p.groups++
		g.num = p.groups
		p.i++
	default:
		n, ok := p.extension(rest, g)
		if !ok {
			return item{}, false, errNoRewrite
		}
		if rest[n-1] == ')' { // global flags (?i): an atom
			p.i += n
			return item{atom: rest[:n]}, false, nil
		}
		p.i += n
	}
	return p.groupBody(g)
}

// extension reads the opening of a (?...) group that neither captures
// nor tests: its length, including "(?x:" or "(?=".
func (p *treeParser) extension(rest string, g *pgroup) (int, bool) {
	for _, o := range []string{"(?:", "(?=", "(?!", "(?<=", "(?<!", "(?>"} {
		if strings.HasPrefix(rest, o) {
			g.open, g.opaque = o, o != "(?:"
			return len(o), true
		}
	}
	j := 2
	for j < len(rest) && (strings.IndexByte("aiLmsux", rest[j]) >= 0 || rest[j] == '-') {
		j++
	}
	if j >= len(rest) || rest[j] != ':' && rest[j] != ')' {
		return 0, false
	}
	g.open = rest[:j+1]
	return j + 1, true
}

// groupBody reads the inside of g and its ")".
func (p *treeParser) groupBody(g *pgroup) (item, bool, error) {
	alts, err := p.alts()
	if err != nil {
		return item{}, false, err
	}
	if p.i >= len(p.s) || p.s[p.i] != ')' {
		return item{}, false, errNoRewrite
	}
	p.i++
	if g.condNum > 0 && len(alts) > 2 {
		return item{}, false, errNoRewrite
	}
	g.alts = alts
	return item{g: g}, false, nil
}

// renderer writes a tree back as a Python pattern, naming every copy of a
// capturing group apart (RE2 refuses a name twice) and noting which
// Python group each copy stands for.
type renderer struct {
	b      strings.Builder
	copyOf map[string]int
}

func (r *renderer) seq(items []item) {
	for _, it := range items {
		if it.g == nil {
			r.b.WriteString(it.atom)
		} else {
			r.group(it.g)
		}
		r.b.WriteString(it.quant)
	}
}

func (r *renderer) group(g *pgroup) {
	switch {
	case g.num > 0:
		// NAME__pyreK (or __pyreN_K unnamed): readable in logjail test.
		name := g.name + copyPrefix + strconv.Itoa(len(r.copyOf))
		if g.name == "" {
			name = copyPrefix + strconv.Itoa(g.num) + "_" + strconv.Itoa(len(r.copyOf))
		}
		r.copyOf[name] = g.num
		r.b.WriteString("(?P<" + name + ">")
	case g.condNum > 0:
		r.b.WriteString("(?(" + strconv.Itoa(g.condNum) + ")")
	default:
		r.b.WriteString(g.open)
	}
	for i, alt := range g.alts {
		if i > 0 {
			r.b.WriteByte('|')
		}
		r.seq(alt)
	}
	r.b.WriteByte(')')
}

// copyPrefix starts the name of every group copy in a rewritten pattern.
const copyPrefix = "__pyre"
