// Package f2bsample reads fail2ban's annotated sample logs (the files under
// fail2ban/tests/files/logs that fail2ban's samplestestcase.py checks its
// filters against) into checks: each log line, the filter variants it is
// checked in and fail2ban's expected result.
//
// It is a test kit: nothing of fail2ban is copied, the files are read where
// Debian's fail2ban package installs them, at test time.
package f2bsample

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Where Debian's fail2ban package installs its filters and sample logs.
const (
	FilterDir = "/etc/fail2ban/filter.d"
	LogDir    = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs"
)

// Variant is one filter instance of a sample: the options of a
// "filterOptions" entry (merged over "fileOptions"). Lines checked in the
// same Variant share one pointer, so a caller keeps one matcher (and its
// state) per Variant, as fail2ban does.
type Variant struct {
	// Key names the filter options, "" or "[mode=aggressive]"; test.*
	// options are left out.
	Key string
	// Opts holds every option, test.* ones included.
	Opts map[string]any
}

// FilterOpts returns the options given to the filter (without test.*),
// as strings.
func (v *Variant) FilterOpts() map[string]string {
	out := map[string]string{}
	for k, x := range v.Opts {
		if !strings.HasPrefix(k, "test.") {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// Mode returns the variant's "mode" option, or "normal".
func (v *Variant) Mode() string {
	if m, ok := v.Opts["mode"]; ok && fmt.Sprint(m) != "" {
		return fmt.Sprint(m)
	}
	return "normal"
}

// Line is one log line of a sample and how fail2ban expects it to match.
type Line struct {
	File string // the sample file's name ("sshd", "sshd-journal")
	Num  int    // 1-based line number in File
	Text string // without the line ending
	// Want is the line's "failJSON" annotation; nil for a line without
	// one, which must not match.
	Want map[string]any
	// Variants are the filter variants the line is checked in, in order
	// (constraints and test.condition already applied).
	Variants []*Variant
}

// WantMatch tells whether fail2ban expects a failure.
func (l Line) WantMatch() bool {
	m, _ := l.Want["match"].(bool)
	return m
}

// WantHost returns the expected failure id ("host"), or "".
func (l Line) WantHost() string {
	if h, ok := l.Want["host"]; ok && h != nil {
		return fmt.Sprint(h)
	}
	return ""
}

var annotationRE = regexp.MustCompile(`^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$`)

// Read reads the sample of filter name from dir (and the files it adds
// with addFILE), as samplestestcase.py's testSampleRegexs does.
func Read(dir, name string) ([]Line, error) {
	r := &reader{name: name, files: []string{name}, variants: map[string]*Variant{}, common: map[string]any{}}
	for fi := 0; fi < len(r.files); fi++ {
		if err := r.file(dir, r.files[fi]); err != nil {
			return r.out, err
		}
	}
	return r.out, nil
}

// reader is Read's state: file and filter options hold from their
// annotation on, across the files added, as in samplestestcase.py.
type reader struct {
	name     string
	files    []string            // the sample and the files it adds
	variants map[string]*Variant // by Key, so equal options share one
	common   map[string]any      // the last fileOptions
	tests    []*Variant          // the variants of the current block
	ignore   bool                // the block's test.condition is false
	out      []Line
}

// variant is the Variant of opts, one per distinct set of filter options.
func (r *reader) variant(opts map[string]any) *Variant {
	var keys []string
	for k := range opts {
		if !strings.HasPrefix(k, "test.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	key := ""
	if len(keys) > 0 {
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%v", k, opts[k]))
		}
		key = "[" + strings.Join(parts, ",") + "]"
	}
	if v := r.variants[key]; v != nil {
		return v
	}
	v := &Variant{Key: key, Opts: opts}
	r.variants[key] = v
	return v
}

// file reads one sample file: annotations, and the lines they describe.
func (r *reader) file(dir, fname string) error {
	lines, err := ReadLines(filepath.Join(dir, fname))
	if err != nil {
		return err
	}
	r.ignore = false
	for li := 0; li < len(lines); li++ {
		line := lines[li]
		var want map[string]any
		if m := annotationRE.FindStringSubmatch(line); m != nil {
			var data any
			if err := json.Unmarshal([]byte(m[2]), &data); err != nil {
				return fmt.Errorf("%s:%d: %v", fname, li+1, err)
			}
			if done, err := r.annotation(m[1], data); err != nil {
				return fmt.Errorf("%s:%d: %v", fname, li+1, err)
			} else if done {
				continue
			}
			// failJSON describes the line that follows it.
			want, _ = data.(map[string]any)
			if li+1 >= len(lines) {
				break
			}
			li++
			line = lines[li]
		} else if r.ignore || strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if r.ignore {
			continue
		}
		if err := r.line(fname, li+1, line, want); err != nil {
			return err
		}
	}
	return nil
}

// annotation applies an options or addFILE annotation and reports it
// done; a failJSON one is not (it describes the next line).
func (r *reader) annotation(kind string, data any) (done bool, err error) {
	switch kind {
	case "fileOptions":
		r.common, _ = data.(map[string]any)
		return true, nil
	case "filterOptions":
		return true, r.filterOptions(data)
	case "addFILE":
		if s, ok := data.(string); ok {
			r.files = append(r.files, s)
		}
		return true, nil
	}
	return false, nil
}

// filterOptions starts a block checked in the variants data lists (one
// object or a list), each merged over the file options; a false
// test.condition makes the block ignored.
func (r *reader) filterOptions(data any) error {
	r.tests, r.ignore = nil, false
	list, ok := data.([]any)
	if !ok {
		list = []any{data}
	}
	for _, o := range list {
		opts := map[string]any{}
		for k, v := range r.common {
			opts[k] = v
		}
		om, _ := o.(map[string]any)
		for k, v := range om {
			opts[k] = v
		}
		if c, ok := opts["test.condition"].(string); ok && c != "" {
			ok, err := Eval(c, r.name, opts)
			if err != nil {
				return err
			}
			r.ignore = !ok
		}
		if !r.ignore {
			r.tests = append(r.tests, r.variant(opts))
		}
	}
	return nil
}

// line adds a log line with the variants of its block that its
// constraint (if any) allows.
func (r *reader) line(fname string, num int, text string, want map[string]any) error {
	if r.tests == nil {
		r.tests = []*Variant{r.variant(map[string]any{})}
	}
	l := Line{File: fname, Num: num, Text: strings.TrimRight(text, "\r\n"), Want: want}
	for _, v := range r.tests {
		if c, ok := want["constraint"].(string); ok && c != "" {
			ok, err := Eval(c, r.name, v.Opts)
			if err != nil {
				return fmt.Errorf("%s:%d: %v", fname, num, err)
			}
			if !ok {
				continue
			}
		}
		l.Variants = append(l.Variants, v)
	}
	r.out = append(r.out, l)
	return nil
}

// ReadLines returns the lines of a sample file as they are (annotations
// included), invalid UTF-8 replaced.
func ReadLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.ToValidUTF8(sc.Text(), "\uFFFD"))
	}
	return lines, sc.Err()
}

var (
	exprNameRE = regexp.MustCompile(`^name\s*(==|!=)\s*'([^']*)'$`)
	exprOptRE  = regexp.MustCompile(`^opts\.get\('([^']*)'\)\s*(==|!=)\s*'([^']*)'$`)
)

// Eval evaluates the Python conditions the sample files use:
// name == 'x' and opts.get('k') == 'v' (or !=).
func Eval(expr, name string, opts map[string]any) (bool, error) {
	expr = strings.TrimSpace(expr)
	if m := exprNameRE.FindStringSubmatch(expr); m != nil {
		return (name == m[2]) == (m[1] == "=="), nil
	}
	if m := exprOptRE.FindStringSubmatch(expr); m != nil {
		v, ok := opts[m[1]]
		eq := ok && fmt.Sprint(v) == m[3]
		return eq == (m[2] == "=="), nil
	}
	return false, fmt.Errorf("unsupported condition %q", expr)
}
