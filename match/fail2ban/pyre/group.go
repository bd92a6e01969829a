package pyre

import (
	"strconv"
	"strings"
)

// Groups: capturing, named, non-capturing, scoped flags, and what only
// the backtracking engine runs (back-references, look-arounds, atomic
// groups, conditionals).

// group translates the group at p.i (its "(") and reports whether it can
// be repeated.
func (p *translator) group(depth int) (bool, error) {
	p.i++ // (
	rest := p.s[p.i:]
	var err error
	switch {
	case !strings.HasPrefix(rest, "?"):
		num := p.newGroup("")
		p.push(num)
		p.emit("(", "(?<"+btGroupName(num)+">")
	case strings.HasPrefix(rest, "?P<"):
		err = p.namedGroup(rest)
	case strings.HasPrefix(rest, "?P="):
		return p.backReference(rest)
	case strings.HasPrefix(rest, "?#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return false, p.errorf("missing ), unterminated comment")
		}
		p.i += end + 1
		return false, nil
	case strings.HasPrefix(rest, "?:"):
		p.i += 2
		p.push(0)
		p.both("(?:")
	case strings.HasPrefix(rest, "?="), strings.HasPrefix(rest, "?!"),
		strings.HasPrefix(rest, "?<="), strings.HasPrefix(rest, "?<!"):
		return p.lookAround(rest, depth)
	case strings.HasPrefix(rest, "?>"):
		p.fallback("atomic group (?>")
		p.i += 2
		p.push(0)
		p.emit("(?:", "(?>")
	case strings.HasPrefix(rest, "?("):
		return p.conditional(rest, depth)
	default:
		err = p.scopedFlags(rest)
	}
	if err != nil {
		return false, err
	}
	return true, p.groupBody(depth)
}

// push opens a group (num 0 for one that captures nothing); closeGroup
// closes it.
func (p *translator) push(num int) {
	p.stack = append(p.stack, p.mline)
	p.open = append(p.open, num)
}

// groupBody translates the inside of an open group and its ")".
func (p *translator) groupBody(depth int) error {
	if err := p.seq(depth + 1); err != nil {
		return err
	}
	p.closeGroup()
	return nil
}

// namedGroup opens (?P<name>...; rest starts at "?P<".
func (p *translator) namedGroup(rest string) error {
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return p.errorf("missing >, unterminated name")
	}
	name := rest[3:end]
	if !validName(name) {
		return p.errorf("bad character in group name %q", name)
	}
	if _, dup := p.byName[name]; dup {
		return p.errorf("redefinition of group name %q", name)
	}
	num := p.newGroup(name)
	p.i += end + 1
	p.push(num)
	p.emit("(?P<"+name+">", "(?<"+name+">")
	return nil
}

// backReference translates (?P=name); rest starts at "?P=".
func (p *translator) backReference(rest string) (bool, error) {
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return false, p.errorf("missing ), unterminated name")
	}
	name := rest[3:end]
	num, ok := p.byName[name]
	if !ok {
		return false, p.errorf("unknown group name %q", name)
	}
	if p.isOpen(num) {
		return false, p.errorf("cannot refer to an open group")
	}
	p.i += end + 1
	p.fallback("back-reference (?P=" + name + ")")
	p.emit(`(?s:.*)`, `\k<`+p.btName(num)+`>`)
	return true, nil
}

// lookAround translates (?=, (?!, (?<= and (?<! groups, which only the
// backtracking engine runs.
func (p *translator) lookAround(rest string, depth int) (bool, error) {
	n := 2
	if rest[1] == '<' {
		n = 3
	}
	p.fallback("look-around (" + rest[:n])
	p.i += n
	p.push(0)
	mark := p.asc.Len()
	p.emit("(?:", "("+rest[:n])
	if err := p.groupBody(depth); err != nil {
		return false, err
	}
	// In the RE2 form (only used to find a literal prefix then) a
	// look-around matches nothing.
	p.asc.Cut(mark)
	p.asc.WriteString("(?:)")
	return true, nil
}

// conditional translates (?(group)yes|no); rest starts at "?(".
func (p *translator) conditional(rest string, depth int) (bool, error) {
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return false, p.errorf("missing ), unterminated name")
	}
	ref := rest[2:end]
	var num int
	if n, err := strconv.Atoi(ref); err == nil {
		if n < 1 || n >= len(p.t.names) {
			return false, p.errorf("invalid group reference %d", n)
		}
		num = n
	} else if k, ok := p.byName[ref]; ok {
		num = k
	} else {
		return false, p.errorf("unknown group name %q", ref)
	}
	p.fallback("conditional (?(" + ref + ")")
	p.i += end + 1
	p.push(0)
	p.emit("(?:", "(?("+p.btName(num)+")")
	if err := p.groupBody(depth); err != nil {
		return false, err
	}
	return true, nil
}

// scopedFlags opens (?flags-flags:...; rest starts at "?". Global flags
// here are misplaced.
func (p *translator) scopedFlags(rest string) error {
	j := 1
	for j < len(rest) && (strings.IndexByte("aiLmsux", rest[j]) >= 0 || rest[j] == '-') {
		j++
	}
	if j >= len(rest) {
		return p.errorf("missing -, : or )")
	}
	if rest[j] == ')' {
		return p.errorf("global flags not at the start of the expression")
	}
	if rest[j] != ':' {
		return p.errorf("unknown extension ?%c", rest[j])
	}
	on, off, _ := strings.Cut(rest[1:j], "-")
	if strings.ContainsAny(on+off, "xL") {
		return p.errorf("flags x and L are not supported")
	}
	p.push(0)
	f := keptFlags(on)
	if strings.ContainsRune(on, 'm') {
		p.mline = true
	}
	if neg := keptFlags(off); neg != "" {
		f += "-" + neg
	}
	if strings.ContainsRune(off, 'm') {
		p.mline = false
	}
	p.i += j + 1
	p.both("(?" + f + ":")
	return nil
}

// keptFlags returns the flags RE2 shares with Python (i, m, s), in order.
func keptFlags(flags string) string {
	f := ""
	for _, c := range flags {
		if c == 'i' || c == 'm' || c == 's' {
			f += string(c)
		}
	}
	return f
}

// closeGroup consumes the ")" of the innermost group.
func (p *translator) closeGroup() {
	p.i++
	p.both(")")
	n := len(p.stack) - 1
	p.mline = p.stack[n]
	p.stack = p.stack[:n]
	p.open = p.open[:len(p.open)-1]
}

func (p *translator) isOpen(num int) bool {
	for _, o := range p.open {
		if o == num {
			return true
		}
	}
	return false
}

func (p *translator) newGroup(name string) int {
	p.t.names = append(p.t.names, name)
	num := len(p.t.names) - 1
	if name != "" {
		p.byName[name] = num
	}
	return num
}

func (p *translator) btName(num int) string {
	if n := p.t.names[num]; n != "" {
		return n
	}
	return btGroupName(num)
}

func validName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || isASCIILetter(c) || c == '_') {
			return false
		}
	}
	return true
}
