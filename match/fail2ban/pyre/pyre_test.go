package pyre

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Expected results from Python 3.11's re.search (spans in characters).
var pyCases = []struct {
	pattern, text string
	want          [][2]int // nil: no match; then the groups, {-1,-1} for none
}{
	{`^a\d{,3}$`, "a12\n", [][2]int{{0, 3}}},
	{`^a\d{,3}$`, "a1234\n", nil},
	{`x{,}y`, "xxxy", [][2]int{{0, 4}}},
	{`a{2}`, "aa", [][2]int{{0, 2}}},
	{`a{x`, "a{x", [][2]int{{0, 3}}},
	{`^foo$`, "foo\n", [][2]int{{0, 3}}},
	{`^foo\Z`, "foo\n", nil},
	{`^foo\s\Z`, "foo\n", [][2]int{{0, 4}}},
	{`foo\s`, "foo\n", [][2]int{{0, 4}}},
	{`(?P<a>x)(?P=a)`, "xx", [][2]int{{0, 2}, {0, 1}}},
	{`(?P<a>x)(?P=a)`, "xy", nil},
	{`(x)\1`, "xx", [][2]int{{0, 2}, {0, 1}}},
	{`(?iu)abc`, "ABC", [][2]int{{0, 3}}},
	{`(?i:ab)c`, "ABc", [][2]int{{0, 3}}},
	{`(?i:ab)c`, "ABC", nil},
	{`^(?:a|b)(?=c)`, "bc", [][2]int{{0, 1}}},
	{`^(?:a|b)(?!c)`, "bc", nil},
	{`(?<=x)y`, "xy", [][2]int{{1, 2}}},
	{`(?<!x)y`, "xy", nil},
	{`^(?P<c>a)?(?(c)b|d)$`, "ab", [][2]int{{0, 2}, {0, 1}}},
	{`^(?P<c>a)?(?(c)b|d)$`, "d", [][2]int{{0, 1}, {-1, -1}}},
	{`^(?P<c>a)?(?(c)b|d)$`, "ad", nil},
	{`^(?P<c>a)??(?(c)b|d)$`, "ab", [][2]int{{0, 2}, {0, 1}}},
	{`^(?P<c>a)??(?(c)b|a)`, "ab", [][2]int{{0, 1}, {-1, -1}}},
	{`^(?:(x)|y)z(?(1)1|2)$`, "xz1", [][2]int{{0, 3}, {0, 1}}},
	{`^(?:(x)|y)z(?(1)1|2)$`, "yz2", [][2]int{{0, 3}, {-1, -1}}},
	{`^(?:(x)|y)z(?(1)1|2)$`, "yz1", nil},
	{`^(a)?(b)?(?(1)c)(?(2)d|e)`, "abcd", [][2]int{{0, 4}, {0, 1}, {1, 2}}},
	{`^(a)?(b)?(?(1)c)(?(2)d|e)`, "ae", nil},
	{`^(a)?(b)?(?(1)c)(?(2)d|e)`, "bd", [][2]int{{0, 2}, {-1, -1}, {0, 1}}},
	{`^u(?P<n>(?P<c>\w+)|(?:[^:]+)) (?(c)x|y)`, "ux x", [][2]int{{0, 4}, {1, 2}, {1, 2}}},
	{`^u(?P<n>(?P<c>\w+)|(?:[^:]+)) (?(c)x|y)`, "ua b y", [][2]int{{0, 6}, {1, 4}, {-1, -1}}},
	{`(?P<c>a)?(?(c)b|c)`, "xac", [][2]int{{2, 3}, {-1, -1}}},
	{`^(a)?(?:(?(1)b|c))+$`, "abbb", [][2]int{{0, 4}, {0, 1}}},
	{`^(?:(a)|b)(?:(?(1)x|y))$`, "ay", nil},
	{`\w+`, "héllo", [][2]int{{0, 5}}},
	{`^\w+$`, "héllo", [][2]int{{0, 5}}},
	{`^\d+$`, "١٢٣", [][2]int{{0, 3}}},
	{`^\s$`, "\x0b", [][2]int{{0, 1}}},
	{`^\s$`, "\x1c", [][2]int{{0, 1}}},
	{`^\s$`, "\u00a0", [][2]int{{0, 1}}},
	{`^\S$`, "\u00a0", nil},
	{`\bfoo\b`, "éfoo", nil},
	{`\bfoo\b`, "-foo-", [][2]int{{1, 4}}},
	{`^[\S.]+$`, "a.b\u00a0", nil},
	{`^[\W]+$`, "-é", nil},
	{`^[^\w]+$`, "--", [][2]int{{0, 2}}},
	{`[]a]`, "]", [][2]int{{0, 1}}},
	{`[^]a]`, "b", [][2]int{{0, 1}}},
	{`[a-]`, "-", [][2]int{{0, 1}}},
	{`[\w\-.^_]*\w`, "my-host.example", [][2]int{{0, 15}}},
	{`\x41\u00e9`, "Aé", [][2]int{{0, 2}}},
	{`a(?#comment)b`, "ab", [][2]int{{0, 2}}},
	{`^a|b$`, "xb", [][2]int{{1, 2}}},
	{`(?P<n>x)|(?P<m>y)`, "y", [][2]int{{0, 1}, {-1, -1}, {0, 1}}},
	{`\$\^\.`, "$^.", [][2]int{{0, 3}}},
	{`\/\-\:\ `, "/-: ", [][2]int{{0, 4}}},
	{`(?m)^b$`, "a\nb\nc\n", [][2]int{{2, 3}}},
	{`^b$`, "a\nb\nc\n", nil},
	// In text of several lines RE2 writes a non-multiline $ as \n?\z: the
	// match takes the final newline (Python's ends before it).
	{`c$`, "a\nb\nc\n", [][2]int{{4, 5}}},
	{`b$`, "a\nb\nc\n", nil},
}

// byteSpan turns a span in characters into one in bytes.
func byteSpan(s string, sp [2]int) [2]int {
	if sp[0] < 0 {
		return sp
	}
	off := []int{}
	for i := range s {
		off = append(off, i)
	}
	off = append(off, len(s))
	return [2]int{off[sp[0]], off[sp[1]]}
}

func TestPythonSemantics(t *testing.T) {
	for _, engine := range []string{"auto", "backtrack"} {
		for _, c := range pyCases {
			t.Run(engine+"/"+c.pattern, func(t *testing.T) {
				lines := strings.Count(strings.TrimSuffix(c.text, "\n"), "\n") > 0
				re, err := Compile(c.pattern, Options{Lines: lines, Backtrack: engine == "backtrack"})
				if err != nil {
					t.Fatal(err)
				}
				loc, err := re.FindStringSubmatchIndex(c.text)
				if err != nil {
					t.Fatal(err)
				}
				if c.want == nil {
					if loc != nil {
						t.Fatalf("%q matched %v (%s: %s), want none", c.text, loc, re.Engine(), re)
					}
					return
				}
				if loc == nil {
					t.Fatalf("%q: no match (%s: %s)", c.text, re.Engine(), re)
				}
				for i, w := range c.want {
					w = byteSpan(c.text, w)
					if lines && re.Engine() == EngineRE2 && strings.HasSuffix(c.pattern, "$") && w[1] == len(c.text)-1 {
						w[1]++
					}
					if got := [2]int{loc[2*i], loc[2*i+1]}; got != w {
						t.Errorf("group %d: %v, want %v (%s: %s)", i, got, w, re.Engine(), re)
					}
				}
			})
		}
	}
}

func TestEngine(t *testing.T) {
	for _, c := range []struct{ pattern, engine string }{
		{`^Failed (?:password|publickey) for (?P<user>\S+) from \d{1,3}(?:\.\d{1,3}){3}$`, EngineRE2},
		{`\d{,3}`, EngineRE2},
		{`(?P<a>x)(?P=a)`, EngineRegexp2},
		{`(?!x)y`, EngineRegexp2},
		{`(?<=:):`, EngineRegexp2},
		{`(?P<c>a)?(?(c)b|d)`, EngineRE2}, // rewritten (cond.go)
		{`((a)|b)+(?(2)c|d)`, EngineRegexp2},
		{`a{1001}`, EngineRegexp2},
	} {
		re, err := Compile(c.pattern, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if re.Engine() != c.engine {
			t.Errorf("%s: engine %s, want %s", c.pattern, re.Engine(), c.engine)
		}
		if (re.Engine() == EngineRegexp2) != (re.Why() != "") {
			t.Errorf("%s: why %q", c.pattern, re.Why())
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, p := range []string{
		`a(?i)b`,    // global flags not at the start (Python 3.11)
		`a{3,1}`,    // min greater than max
		`\q`,        // bad escape
		`[a-`,       // unterminated class
		`(?P=nope)`, // unknown group
		`(a`,        // missing )
		`a)`,        // unbalanced )
		`*a`,        // nothing to repeat
		`a**`,       // multiple repeat
		`a++`,       // possessive: not supported
		`(?x)a b`,   // verbose: not supported
		`(?P<a>x)(?P<a>y)`,
		`[z-a]`,
	} {
		if _, err := Compile(p, Options{}); err == nil {
			t.Errorf("%q compiled", p)
		}
	}
}

func TestLiteralPrefix(t *testing.T) {
	for _, c := range []struct{ pattern, want string }{
		{`^Failed (?:password|x) for`, "Failed "},
		{`^Failed publickey for (?!x)`, "Failed publickey for "},
		{`^(?P<a>ab)(?P=a)`, "ab"},
		{`^a|b`, ""},
		{`(?i)^abc`, ""},
		{`foo`, ""},
		{`^ab?c`, "a"},
	} {
		re, err := Compile(c.pattern, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := re.LiteralPrefix(); got != c.want {
			t.Errorf("%s: prefix %q, want %q", c.pattern, got, c.want)
		}
	}
}

// A pattern that backtracks forever is cut by the timeout.
func TestTimeout(t *testing.T) {
	re, err := Compile(`(x+x+)+y`, Options{Backtrack: true, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = re.FindStringSubmatchIndex(strings.Repeat("x", 64))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
}

// regexp2 stops a match between its MatchTimeout and two ticks of its
// clock later: the engine is given what keeps that within the limit (it
// was given the limit itself, with a 100 ms tick: ~205 ms for 100 ms).
func TestTimeoutWithinLimit(t *testing.T) {
	for _, limit := range []time.Duration{0, 20 * time.Millisecond, DefaultTimeout, time.Second} {
		re, err := Compile(`(x+x+)+y`, Options{Backtrack: true, Timeout: limit})
		if err != nil {
			t.Fatal(err)
		}
		want := limit
		if want == 0 {
			want = DefaultTimeout
		}
		if re.Timeout() != want {
			t.Errorf("limit %v: Timeout() %v, want %v", limit, re.Timeout(), want)
		}
		if worst := re.bt.MatchTimeout + 2*engineTick + clockSlack; worst > want || re.bt.MatchTimeout <= 0 {
			t.Errorf("limit %v: engine timeout %v and tick %v stop a match after up to %v", limit, re.bt.MatchTimeout, engineTick, worst)
		}
	}
}

// BenchmarkTimeout reports how long a match that cannot finish runs with
// the default limit (ms/match; at most DefaultTimeout).
func BenchmarkTimeout(b *testing.B) {
	re := MustCompile(`(?=x)(x+x+)+y`, Options{})
	line := strings.Repeat("x", 64)
	start := time.Now()
	for b.Loop() {
		if _, err := re.FindStringSubmatchIndex(line); !errors.Is(err, ErrTimeout) {
			b.Fatalf("err %v, want ErrTimeout", err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/match")
}

// On RE2, a miss does not allocate.
func TestMissDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	re := MustCompile(`^Failed \S+ for (?P<user>.*) from (?P<ip>\d+\.\d+\.\d+\.\d+)\s*$`, Options{})
	b := []byte("Accepted publickey for alice from 192.0.2.1 port 22\n")
	if n := testing.AllocsPerRun(100, func() { re.FindSubmatchIndexHint(b, true) }); n != 0 {
		t.Errorf("%.1f allocs per miss", n)
	}
	if n := testing.AllocsPerRun(100, func() { re.MatchHint(b, true) }); n != 0 {
		t.Errorf("%.1f allocs per miss", n)
	}
}

// A search into the caller's buffer gives what a new slice would, also
// for a rewritten conditional (whose groups are folded back), and on
// ASCII text costs no allocation once the buffer is large enough.
func TestFindIntoReusesBuffer(t *testing.T) {
	for _, c := range []struct{ pattern, text string }{
		{`^Failed \S+ for (?P<user>.*) from (?P<ip>\d+\.\d+\.\d+\.\d+)`, "Failed password for bob from 192.0.2.1\n"},
		{`^(?P<c>a)?(?(c)b|d)$`, "ab"},
		{`^(?P<c>a)?(?(c)b|d)$`, "d"},
	} {
		re := MustCompile(c.pattern, Options{})
		b := []byte(c.text)
		want, _ := re.FindSubmatchIndexHint(b, true)
		buf := make([]int, 0, 1)
		got, err := re.FindSubmatchIndexInto(buf, b, true)
		if err != nil || !slices.Equal(got, want) || want == nil {
			t.Errorf("%s on %q: %v, %v; want %v", c.pattern, c.text, got, err, want)
			continue
		}
		if raceEnabled {
			continue
		}
		if n := testing.AllocsPerRun(100, func() { got, _ = re.FindSubmatchIndexInto(got, b, true) }); n != 0 {
			t.Errorf("%s: %.1f allocs per search into a buffer", c.pattern, n)
		}
	}
}

// isASCII finds a non-ASCII byte wherever it is, in the words it reads
// eight bytes at a time and in the bytes after them.
func TestIsASCII(t *testing.T) {
	for n := 0; n <= 20; n++ {
		s := strings.Repeat("a", n)
		if !isASCII(s) || !isASCIIBytes([]byte(s)) {
			t.Errorf("%d ASCII bytes: not ASCII", n)
		}
		for i := 0; i < n; i++ {
			for _, c := range []byte{0x80, 0xC3, 0xFF} {
				b := []byte(s)
				b[i] = c
				if isASCII(string(b)) || isASCIIBytes(b) {
					t.Errorf("%d bytes, %#x at %d: ASCII", n, c, i)
				}
			}
		}
	}
}
