package native

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
)

// requiredCases: patterns and the literals every match of them contains.
var requiredCases = []struct {
	pattern string
	want    []string
}{
	{`^Failed password for .* from \S+ port \d+$`, []string{"Failed password for ", " from ", " port "}},
	{`(?P<host>\S+) (a|b) x`, []string{" ", " x"}},
	{`^(?:Invalid|Illegal) user (?P<u>.*) from`, []string{"I", " user ", " from"}}, // the parser factors out the "I"
	{`(?:foo)?bar`, []string{"bar"}},
	{`(?:foo)+bar`, []string{"foo", "bar"}},
	{`(?:foo){2,3}`, []string{"foo"}},
	{`(?:foo){0,3}`, nil},
	{`(?i)failed for`, nil},
	{`a|b`, nil},
	{"bad \uFFFD byte", []string{"bad ", " byte"}},
	{`(`, nil},
}

func TestRequiredOf(t *testing.T) {
	for _, tc := range requiredCases {
		if got := requiredOf(tc.pattern); !slices.Equal(got, tc.want) {
			t.Errorf("requiredOf(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
	}
}

// TestContains checks the rare-byte search against strings.Contains, for
// every offset of the byte searched for.
func TestContains(t *testing.T) {
	texts := []string{"", "a", "Failed", "Failed ", "x Failed password", "FFailed  Failed", "aFailed", "ailed F", "Faile"}
	for _, lit := range []string{"Failed ", "F", "d", "iled"} {
		for rare := range len(lit) {
			for _, text := range texts {
				if got, want := contains(text, lit, rare), strings.Contains(text, lit); got != want {
					t.Errorf("contains(%q, %q, %d) = %v, want %v", text, lit, rare, got, want)
				}
			}
		}
	}
}

// A line the prefilter turns away allocates nothing either.
func TestPrefilteredMissDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	m, err := Compile("p", match.Rules{
		Prefregex: `^(?:\S+ )?(?:sshd\[\d+\]: )?<F-CONTENT>.+</F-CONTENT>$`,
		Failregex: []string{`^Failed password for .* from <HOST> port \d+`, `^Invalid user \S+ from <HOST>$`},
		Location:  time.UTC,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		"Nov 25 07:13:18 host CRON[1]: session opened for user root",
		"Nov 25 07:13:18 host sshd[7]: Accepted publickey for bob from 192.0.2.1 port 22 ssh2",
		"no date at all " + strings.Repeat("x", 200),
	} {
		if m.pre == nil || m.pre.scan(l) {
			t.Fatalf("%q passes the prefilter", l)
		}
		e := ingest.Entry{Message: l, ReadAt: now}
		if n := testing.AllocsPerRun(100, func() { m.Match(&e, now) }); n != 0 {
			t.Errorf("%q: %.1f allocs per prefiltered miss", l, n)
		}
	}
}

// shippedFilter is what the equivalence test reads of a shipped filter.
type shippedFilter struct {
	Prefregex   string              `yaml:"prefregex"`
	Datepattern datepatterns        `yaml:"datepattern"`
	Failregex   []string            `yaml:"failregex"`
	Ignoreregex []string            `yaml:"ignoreregex"`
	Modes       map[string][]string `yaml:"modes"`
}

// datepatterns is a filter file's datepattern, one pattern or a list,
// joined a pattern per line as match.Rules takes it.
type datepatterns string

func (d *datepatterns) UnmarshalYAML(n *yaml.Node) error {
	var list []string
	if n.Kind == yaml.ScalarNode {
		list = []string{n.Value}
	} else if err := n.Decode(&list); err != nil {
		return err
	}
	*d = datepatterns(strings.Join(list, "\n"))
	return nil
}

// namedFilter is a shipped filter file, by name.
type namedFilter struct {
	name   string
	filter shippedFilter
}

// readShippedFilters reads every shipped filter (pipelines/filters), in
// name order.
func readShippedFilters(t *testing.T) []namedFilter {
	t.Helper()
	files, err := filepath.Glob("../../pipelines/filters/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped filters: %v", err)
	}
	var out []namedFilter
	for _, file := range files {
		var f shippedFilter
		b, err := os.ReadFile(file)
		if err == nil {
			err = yaml.Unmarshal(b, &f)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, namedFilter{strings.TrimSuffix(filepath.Base(file), ".yaml"), f})
	}
	return out
}

// TestPrefilterChangesNothing runs every shipped filter (each mode's
// failregexes added in turn) with and without the prefilter, the index of
// failregexes by first byte and match/asciire over fail2ban's
// sample logs and a generated auth.log, and the sshd filter also over the
// shared workload of issue 13 when it is there (LOGJAIL_BENCH_LOG, else
// /tmp/auth1m.log; not with -short or -race): outcome and failure must be the same
// line by line, and so must the counters.
func TestPrefilterChangesNothing(t *testing.T) {
	lines := sampleLines(t)
	for _, sf := range readShippedFilters(t) {
		name, f := sf.name, sf.filter
		for _, mode := range append([]string{"normal"}, slices.Sorted(mapKeys(f.Modes))...) {
			rules := match.Rules{Prefregex: f.Prefregex, Datepattern: string(f.Datepattern), Ignoreregex: f.Ignoreregex, Location: time.UTC}
			rules.Failregex = append(slices.Clone(f.Failregex), f.Modes[mode]...)
			if len(rules.Failregex) == 0 {
				continue // postfix: only its modes have failregexes
			}
			in := lines
			if raceEnabled {
				in = raceLines(t, name, lines)
			}
			if name == "sshd" && mode == "normal" {
				in = append(slices.Clone(lines), workload(t)...)
			}
			t.Run(name+"/"+mode, func(t *testing.T) { samePerLine(t, rules, in) })
		}
	}
}

func mapKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if k != "normal" && !yield(k) {
				return
			}
		}
	}
}

func samePerLine(t *testing.T, rules match.Rules, lines []string) {
	fast, err := Compile("p", rules)
	if err != nil {
		t.Fatal(err)
	}
	if fast.pre == nil {
		t.Fatal("no prefilter: the filter's regexes require no literal")
	}
	slow, _ := Compile("p", rules)
	slow.pre, slow.prefHeadASCII, slow.byFirst = nil, nil, nil // every regex tried, by Go's regexp
	for i := range slow.fail {
		slow.fail[i].ascii = nil
	}
	turnedAway := 0
	for i, l := range lines {
		e := ingest.Entry{Message: l, ReadAt: now}
		fs, outS := slow.Match(&e, now)
		ff, outF := fast.Match(&e, now)
		if outF != outS || !reflect.DeepEqual(ff, fs) {
			t.Fatalf("line %d %q: with the prefilter %v %+v, without %v %+v", i, l, outF, ff, outS, fs)
		}
		if outS == match.Miss && !fast.pre.scan(cutAnyDate(fast, l)) {
			turnedAway++
		}
	}
	if !slices.Equal(fast.Hits(), slow.Hits()) || !reflect.DeepEqual(fast.DateHits(), slow.DateHits()) {
		t.Errorf("hits %v dates %v, without the prefilter %v %v", fast.Hits(), fast.DateHits(), slow.Hits(), slow.DateHits())
	}
	t.Logf("%d lines, %d turned away by the prefilter", len(lines), turnedAway)
}

// cutAnyDate is the text Match gives the prefilter.
func cutAnyDate(m *Matcher, l string) string {
	if _, start, end, ok := m.finder.Find(l, now); ok && start < end {
		return cutDate(l, start, end)
	}
	return l
}

// sampleLines are fail2ban's sample logs of every filter, bytes as they are
// (some are not UTF-8), and a generated auth.log.
func sampleLines(t *testing.T) []string {
	lines, err := f2bsample.AllLogLines()
	if len(lines) == 0 {
		t.Fatalf("no fail2ban sample logs in %s: %v", f2bsample.LogDir, err)
	}
	return append(lines, testkit.AuthLog(20_000)...)
}

// raceLines are the lines a filter is checked on under the race detector,
// which makes each match ~10 times slower and finds nothing in these
// one-goroutine tests: the filter's own samples (fail2ban's of its name
// and its annotated one) and every 16th line of the others. README's test
// command also runs this test without the race detector, on every line.
func raceLines(t *testing.T, name string, all []string) []string {
	var out []string
	for _, path := range []string{filepath.Join(f2bsample.LogDir, name), "../../pipelines/testdata/filters/" + name + ".log"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // no fail2ban sample of that name (recidive's is fail2ban's log)
		}
		for l := range strings.Lines(string(b)) {
			out = append(out, strings.TrimRight(l, "\r\n"))
		}
	}
	if len(out) == 0 {
		t.Fatalf("filter %s: no sample of its own", name)
	}
	for i := 0; i < len(all); i += 16 {
		out = append(out, all[i])
	}
	return out
}

// workload is the shared workload of issue 13, when it is there.
func workload(t *testing.T) []string {
	if testing.Short() || raceEnabled {
		t.Log("without the workload: short mode or the race detector (too slow)")
		return nil
	}
	lines, err := testkit.WorkloadLines()
	if err != nil {
		t.Logf("without the workload: %v", err)
	}
	return lines
}

// gateCases: literals, what each failregex requires, and the gates.
var gateCases = []struct {
	name string
	lits []string
	need [][]int
	want []int
}{
	{"most require from", []string{"Failed ", " from ", " port ", "PAM: "}, [][]int{{0, 1, 2}, {1}, {1, 3}, {3}}, []int{1}},
	{"half is not most", []string{"Failed ", " from "}, [][]int{{0, 1}, {1}, {0}, {0}}, []int{0}},
	{"too short to tell", []string{" ", ":"}, [][]int{{0, 1}, {0, 1}}, nil},
	{"the most required first", []string{"aaaa", "bbbb"}, [][]int{{0, 1}, {1}, {0, 1}}, []int{1, 0}},
}

func TestGates(t *testing.T) {
	for _, tc := range gateCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := gates(tc.lits, tc.need); !slices.Equal(got, tc.want) {
				t.Errorf("gates = %v, want %v", got, tc.want)
			}
		})
	}
}

// unprefiltered are shipped filters whose failregexes need no literal of
// 3 bytes, with the reason.
var unprefiltered = map[string]string{}

// TestShippedFiltersArePrefiltered: every failregex of every shipped
// filter, with its prefregex, requires a literal of at least 3 bytes, so
// the prefilter turns away the lines of other programs before any regex
// runs on them (what keeps a filter as fast as sshd's).
func TestShippedFiltersArePrefiltered(t *testing.T) {
	for _, sf := range readShippedFilters(t) {
		f, file := sf.filter, sf.name+".yaml"
		pref, _, err := expandTags(f.Prefregex)
		if err != nil {
			t.Fatal(err)
		}
		all := slices.Clone(f.Failregex)
		for _, mode := range slices.Sorted(mapKeys(f.Modes)) {
			all = append(all, f.Modes[mode]...)
		}
		for _, re := range all {
			if why := unprefiltered[filepath.Base(file)]; why != "" {
				t.Logf("%s: %s", filepath.Base(file), why)
				continue
			}
			p, _, err := expandTags(re)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			lits := append(requiredOf(p), requiredOf(pref)...)
			if !slices.ContainsFunc(lits, func(l string) bool { return len(l) >= 3 }) {
				t.Errorf("%s: failregex %q requires no literal of 3 bytes or more (literals: %q): give it the program's own words", filepath.Base(file), re, lits)
			}
		}
	}
}
