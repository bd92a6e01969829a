package pyre

import (
	"slices"
	"strings"
)

// Rewriting Python conditionals (?(g)yes|no) for RE2, which has none.
//
// Whether g took part is decided by an earlier element of a sequence that
// holds both g and the conditional: an optional group (g)?, or an
// alternation with g in some branches. Such an element is split into its
// branches in the order a backtracking engine tries them, each of which
// either always or never sets g; the part up to the conditional is copied
// after each branch with the conditional resolved:
//
//	(?P<g>x)?M(?(g)A|B)  →  (?:(?P<g>x)M(?:A)|M(?:B))
//
// RE2's leftmost-first match is the first one a backtracking engine finds,
// and the split keeps the order in which the alternatives are tried, so
// the match and its groups are the same. A group copied into several
// branches gets a name per copy; only one copy can take part in a match
// (they sit in different branches of one alternation), and Regexp folds
// the copies back into the Python group. Whenever the order could change
// (a choice before the splitting point inside a copied sequence, g inside
// a repetition or a look-around) the rewrite gives up and the pattern runs
// on the backtracking engine as before.

// maxRewriteGrowth bounds how much larger a rewritten pattern may be.
const maxRewriteGrowth = 16

// rewriteForRE2 returns pattern without conditionals and with the
// look-ahead loops it can settle (avoid.go), with every capturing group
// renamed per copy (see renderer.group), and which Python group each name
// stands for;
// ok is false when it cannot be rewritten.
func rewriteForRE2(pattern string) (string, map[string]int, bool) {
	if !strings.Contains(pattern, "(?(") && !strings.Contains(pattern, "(?!") ||
		strings.Contains(pattern, copyPrefix) {
		return "", nil, false
	}
	tree, err := parseTree(pattern)
	if err != nil {
		return "", nil, false
	}
	for range 64 {
		g, found := firstConditional(tree)
		if !found {
			if !flagsSorI.MatchString(pattern) {
				tree = rewriteAvoids(tree, follow{})
			}
			r := &renderer{copyOf: map[string]int{}}
			r.seq(tree)
			out := r.b.String()
			if len(out) > maxRewriteGrowth*len(pattern) {
				return "", nil, false
			}
			return out, r.copyOf, true
		}
		if !rewriteOne(&tree, g) {
			return "", nil, false
		}
	}
	return "", nil, false
}

// firstConditional returns the group the first conditional tests.
func firstConditional(seq []item) (int, bool) {
	for _, it := range seq {
		if it.g == nil {
			continue
		}
		if it.g.condNum > 0 {
			return it.g.condNum, true
		}
		for _, alt := range it.g.alts {
			if g, ok := firstConditional(alt); ok {
				return g, true
			}
		}
	}
	return 0, false
}

// rewriteOne resolves the conditionals testing g in the sequence where g
// and the first of them part.
func rewriteOne(seq *[]item, g int) bool {
	s := *seq
	i, j := -1, -1
	for k, it := range s {
		if i < 0 && hasGroup(it, g) {
			i = k
		}
		if j < 0 && hasCond(it, g) {
			j = k
		}
	}
	switch {
	case i < 0 || j < 0 || j < i:
		return false
	case i == j:
		// Both inside one group (not g itself: a conditional cannot test
		// an open group): part further in, unless the group repeats (g
		// would keep its value from an earlier iteration).
		gr := s[i].g
		if gr.num == g || gr.opaque || s[i].quant != "" {
			return false
		}
		for a := range gr.alts {
			if hasGroup(item{g: &pgroup{alts: gr.alts[a : a+1]}}, g) {
				return rewriteOne(&gr.alts[a], g)
			}
		}
		return false
	}
	branches, ok := expandItem(s[i], g)
	if !ok {
		return false
	}
	mid := s[i+1 : j+1]
	alts := make([][]item, 0, len(branches))
	for _, b := range branches {
		alt := append(append([]item(nil), b.items...), resolve(mid, g, b.yes)...)
		alts = append(alts, alt)
	}
	out := append([]item(nil), s[:i]...)
	out = append(out, item{g: &pgroup{open: "(?:", alts: alts}})
	*seq = append(out, s[j+1:]...)
	return true
}

// branch is one way through an element: a sequence that always (yes) or
// never sets the group being tested.
type branch struct {
	items []item
	yes   bool
}

// expandItem splits it into branches, in the order a backtracking engine
// tries them.
func expandItem(it item, g int) ([]branch, bool) {
	if !hasGroup(it, g) {
		return []branch{{[]item{it}, false}}, true
	}
	gr := it.g
	if gr.opaque || gr.condNum > 0 {
		return nil, false
	}
	switch it.quant {
	case "":
	case "?", "??":
		bs, ok := expandItem(item{g: gr}, g)
		if !ok {
			return nil, false
		}
		if it.quant == "?" {
			return append(bs, branch{nil, false}), true
		}
		return append([]branch{{nil, false}}, bs...), true
	default:
		return nil, false // a repetition: which iteration set g?
	}
	if gr.num == g {
		return []branch{{[]item{it}, true}}, true
	}
	var out []branch
	for _, alt := range gr.alts {
		bs, ok := expandSeq(alt, g)
		if !ok {
			return nil, false
		}
		for _, b := range bs {
			copied := *gr
			copied.alts = [][]item{b.items}
			out = append(out, branch{[]item{{g: &copied}}, b.yes})
		}
	}
	return out, true
}

// expandSeq splits a sequence at its element holding g. The elements
// before it are copied into every branch, which keeps the engine's order
// only when they match in one way.
func expandSeq(seq []item, g int) ([]branch, bool) {
	k := -1
	for n, it := range seq {
		if hasGroup(it, g) {
			k = n
			break
		}
	}
	if k < 0 {
		return []branch{{seq, false}}, true
	}
	bs, ok := expandItem(seq[k], g)
	if !ok || len(bs) > 1 && !choiceFree(seq[:k]) {
		return nil, false
	}
	out := make([]branch, len(bs))
	for n, b := range bs {
		items := append(append([]item(nil), seq[:k]...), b.items...)
		out[n] = branch{append(items, seq[k+1:]...), b.yes}
	}
	return out, true
}

// choiceFree tells whether a sequence matches in at most one way: no
// quantifier, alternation, look-around or conditional.
func choiceFree(seq []item) bool {
	for _, it := range seq {
		if it.quant != "" {
			return false
		}
		if it.g == nil {
			continue
		}
		if it.g.opaque || it.g.condNum > 0 || len(it.g.alts) != 1 || !choiceFree(it.g.alts[0]) {
			return false
		}
	}
	return true
}

// resolve copies seq with every conditional testing g replaced by its
// yes or no branch.
func resolve(seq []item, g int, yes bool) []item {
	out := make([]item, len(seq))
	for n, it := range seq {
		out[n] = it
		if !hasCond(it, g) {
			continue
		}
		gr := it.g
		if gr.condNum == g {
			var taken []item // a missing no branch matches the empty string
			if yes {
				taken = gr.alts[0]
			} else if len(gr.alts) > 1 {
				taken = gr.alts[1]
			}
			out[n].g = &pgroup{open: "(?:", alts: [][]item{resolve(taken, g, yes)}}
			continue
		}
		copied := *gr
		copied.alts = make([][]item, len(gr.alts))
		for a, alt := range gr.alts {
			copied.alts[a] = resolve(alt, g, yes)
		}
		out[n].g = &copied
	}
	return out
}

// hasGroup tells whether it holds capturing group g.
func hasGroup(it item, g int) bool {
	return walk(it, func(gr *pgroup) bool { return gr.num == g })
}

// hasCond tells whether it holds a conditional testing g.
func hasCond(it item, g int) bool {
	return walk(it, func(gr *pgroup) bool { return gr.condNum == g })
}

// walk tells whether f holds for a group in it.
func walk(it item, f func(*pgroup) bool) bool {
	if it.g == nil {
		return false
	}
	if f(it.g) {
		return true
	}
	for _, alt := range it.g.alts {
		for _, sub := range alt {
			if walk(sub, f) {
				return true
			}
		}
	}
	return false
}

// withoutConditionals translates pattern with its conditionals rewritten
// (and look-ahead loops, avoid.go),
// when that needs no backtracking engine, and says which RE2 groups stand
// for each Python group.
func withoutConditionals(pattern string, opt Options) (translation, [][]int, bool) {
	rw, copyOf, ok := rewriteForRE2(pattern)
	if !ok {
		return translation{}, nil, false
	}
	t, err := translate(rw, opt.Multiline, opt.Lines)
	if err != nil || t.needsBT || t.maxRepeat > 1000 {
		return translation{}, nil, false
	}
	groups := 0
	for _, num := range copyOf {
		groups = max(groups, num)
	}
	fold := make([][]int, groups+1)
	for k, name := range t.names {
		if num, ok := copyOf[name]; ok && k > 0 {
			fold[num] = append(fold[num], k)
		}
	}
	return t, fold, true
}

// unfold turns RE2 offsets of a rewritten pattern into the Python
// groups': each takes the copy that took part, if any.
func (r *Regexp) unfold(loc []int) []int {
	if r.fold == nil || loc == nil {
		return loc
	}
	return r.unfoldInto(nil, loc)
}

// unfoldInto is unfold for a match that is not to be kept (loc: the
// engine's), into dst's array (grown as needed).
func (r *Regexp) unfoldInto(dst, loc []int) []int {
	if r.fold == nil {
		return append(dst[:0], loc...)
	}
	out := slices.Grow(dst[:0], 2*len(r.names))[:2*len(r.names)]
	out[0], out[1] = loc[0], loc[1]
	for num := 1; num < len(r.names); num++ {
		out[2*num], out[2*num+1] = -1, -1
		if num >= len(r.fold) {
			continue
		}
		for _, k := range r.fold[num] {
			if loc[2*k] >= 0 {
				out[2*num], out[2*num+1] = loc[2*k], loc[2*k+1]
				break
			}
		}
	}
	return out
}
