package fail2ban

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// maxTagReplace is fail2ban's MAX_TAG_REPLACE_COUNT: how often one tag may
// be re-found inside the same value before it counts as a loop.
const maxTagReplace = 25

// tagRE is fail2ban's TAG_CRE: a <name> without spaces or angle brackets.
var tagRE = regexp.MustCompile(`<([^ <>]+)>`)

// options is an ordered option set (fail2ban's dicts keep insertion order,
// which decides the order of tag substitution).
type options struct {
	keys []string
	vals map[string]entry
}

func newOptions() *options { return &options{vals: map[string]entry{}} }

func (o *options) set(k string, e entry) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = e
}

func (o *options) has(k string) bool {
	_, ok := o.vals[k]
	return ok
}

func (o *options) clone() *options {
	c := &options{keys: slices.Clone(o.keys), vals: make(map[string]entry, len(o.vals))}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

// merged returns o with p's options added or overriding (Python's {**o, **p}).
func (o *options) merged(p *options) *options {
	c := o.clone()
	for _, k := range p.keys {
		c.set(k, p.vals[k])
	}
	return c
}

// tagFallback resolves a tag that names none of the options; found false
// leaves the tag in place.
type tagFallback func(name string) (value string, found bool, err error)

// substituteTags replaces <name> tags in every value by the value of option
// name (recursively, until nothing changes), as fail2ban's
// substituteRecursiveTags does: a tag naming neither an option nor anything
// fallback knows stays as it is (<HOST>, <F-USER>...); ignored names are
// neither substituted nor substituted into; a value that contains itself,
// directly or through others, is an error.
func substituteTags(in *options, ignore map[string]bool, fallback tagFallback) (*options, error) {
	tags := in.clone()
	done := map[string]bool{}
	repCounts := map[string]map[string]int{}
	search := func(s string, from int) []int {
		m := tagRE.FindStringSubmatchIndex(s[from:])
		for i := range m {
			m[i] += from
		}
		return m
	}
	for {
		again := false
		for _, tag := range tags.keys {
			if ignore[tag] || done[tag] {
				continue
			}
			e := tags.vals[tag]
			value := e.value
			counts := repCounts[tag]
			if counts == nil {
				counts = map[string]int{}
			}
			for m := search(value, 0); m != nil; {
				rtag := value[m[2]:m[3]]
				if ignore[rtag] {
					m = search(value, m[1])
					continue
				}
				n, seen := counts[rtag]
				if !seen {
					n = 1
				}
				if rtag == tag || n > maxTagReplace {
					return nil, &Error{Pos: e.pos, Key: tag, Msg: fmt.Sprintf("<%s>: recursive tag reference", rtag)}
				}
				repl, ok := tags.vals[rtag]
				r := repl.value
				if !ok && fallback != nil {
					var err error
					if r, ok, err = fallback(rtag); err != nil {
						return nil, err
					}
				}
				if !ok {
					m = search(value, m[1])
					continue
				}
				value = strings.ReplaceAll(value, "<"+rtag+">", r)
				counts[rtag]++
				m = search(value, m[0])
			}
			if value != e.value {
				if tagRE.MatchString(value) {
					repCounts[tag] = counts
					again = true
				}
				tags.vals[tag] = entry{value: value, pos: e.pos}
			}
			if !strings.Contains(value, "<") {
				done[tag] = true
			}
		}
		if !again {
			return tags, nil
		}
	}
}
