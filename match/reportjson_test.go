package match

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
)

// wordMatcher is a filter without state for these tests: "fail ADDR
// [USER]" fails ADDR (with USER when given), "host NAME" fails a host name,
// "skip" is ignored, anything else missed.
type wordMatcher struct{ hits []uint64 }

func (m *wordMatcher) Match(e *ingest.Entry, now time.Time) (Failure, Outcome) {
	w := strings.Fields(e.Message)
	switch {
	case len(w) >= 2 && w[0] == "fail":
		m.hits[0]++
		f := Failure{Addr: netip.MustParseAddr(w[1]), ID: w[1], Time: now, Line: e.Message}
		if len(w) > 2 {
			f.User, f.HasUser = w[2], true
		}
		return f, Matched
	case len(w) == 2 && w[0] == "host":
		m.hits[0]++
		return Failure{ID: w[1], Time: now, Line: e.Message}, NoAddress
	case len(w) == 1 && w[0] == "skip":
		return Failure{}, Ignored
	}
	return Failure{}, Miss
}

func (m *wordMatcher) Dialect() Dialect            { return DialectLogjail }
func (m *wordMatcher) Regexes() []string           { return []string{"^fail <HOST>"} }
func (m *wordMatcher) Engines() []string           { return []string{EngineRE2} }
func (m *wordMatcher) Hits() []uint64              { return m.hits }
func (m *wordMatcher) DateHits() map[string]uint64 { return map[string]uint64{"none": 1} }
func (m *wordMatcher) Timeouts() uint64            { return 0 }
func (m *wordMatcher) RegexTimeouts() []uint64     { return []uint64{0} }
func (m *wordMatcher) LastTimeout() (s RegexSite)  { return s }
func buildWordMatcher() (Matcher, error)           { return &wordMatcher{hits: make([]uint64, 1)}, nil }
func wordLog(lines ...string) io.Reader            { return strings.NewReader(strings.Join(lines, "\n")) }
func strPtr(s string) *string                      { return &s }
func oldDocument(t *testing.T, rep Report) []byte  { return encodeIndented(t, rep) }
func streamedDocument(t *testing.T, rep Report) []byte {
	var out bytes.Buffer
	rw := NewReportWriter(&out)
	for _, f := range rep.Failures {
		if err := rw.Failure(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.Finish(rep); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// encodeIndented is how `logjail test --json` printed the whole report
// before it streamed: encoding/json, two-space indent, HTML unescaped.
func encodeIndented(t *testing.T, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var when = time.Date(2026, 11, 25, 7, 13, 18, 500, time.UTC)

// reportCases are reports whose streamed document must equal the one
// encoding/json prints; the texts hold what JSON escapes.
var reportCases = []struct {
	name string
	rep  Report
}{
	{"no failures", Report{Lines: 3, Missed: 3, Dates: map[string]int{}, Failures: []FailureRecord{}}},
	{"plain", Report{Lines: 2, Matched: 1, Ignored: 1, LinesPerSec: 812000.5,
		Regexes:  []RegexHits{{Regex: `^Failed for .* from <HOST>$`, Hits: 1, Engine: EngineRE2}},
		Dates:    map[string]int{"syslog": 2, "iso8601": 0},
		Failures: []FailureRecord{{Line: 1, Addr: "192.0.2.1", Time: when, User: strPtr("root"), Text: "Failed for root from 192.0.2.1"}}}},
	{"escapes", Report{Lines: 9, Matched: 6, NoAddress: 1, Missed: 1, TimedOut: 1, Timeouts: 2, Dates: map[string]int{"a\"b": 1},
		Regexes: []RegexHits{{Regex: `(?<=x)\d+ <>&`, Hits: 6, Engine: EngineRegexp2, Timeouts: 2}},
		Failures: []FailureRecord{
			{Line: 1, Addr: "2001:db8::1", ID: "h<1>&", Time: when, User: strPtr(""), Text: `quote " back \ slash`},
			{Line: 2, Addr: "192.0.2.2", Time: when.In(time.FixedZone("", 3600)), Text: "tab\tcr\rnl\nbell\x07 del\x7f"},
			{Line: 3, Addr: "192.0.2.3", Time: time.Time{}, Text: "caf\u00e9 \u2028 \u2029 \ufffd 日本"},
			{Line: 4, Addr: "host.example", User: strPtr("ü\"\\"), Text: "<script>&amp;</script>"},
			{Line: 5, Addr: "192.0.2.5", Text: "\x00\x1f\b\f"},
			{Line: 6, Addr: "192.0.2.6", Text: "invalid \xff utf-8"},
		},
		MissedLines:  []NumberedLine{{Line: 7, Text: "missed \"x\""}},
		TimeoutLines: []NumberedLine{{Line: 8, Text: "slow"}}}},
}

// The streamed document holds the fields of the one encoding/json printed
// for the whole report, field by field and byte for byte, with
// "failures" moved first.
func TestReportWriterDocumentEqualsEncodingJSON(t *testing.T) {
	for _, tc := range reportCases {
		t.Run(tc.name, func(t *testing.T) {
			compareDocuments(t, oldDocument(t, tc.rep), streamedDocument(t, tc.rep))
		})
	}
}

func compareDocuments(t *testing.T, old, streamed []byte) {
	t.Helper()
	if !json.Valid(streamed) || !bytes.HasPrefix(streamed, []byte("{\n  \"failures\": [")) || !bytes.HasSuffix(streamed, []byte("\n}\n")) {
		t.Fatalf("streamed document:\n%s", streamed)
	}
	var want, got map[string]json.RawMessage
	if err := json.Unmarshal(old, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(streamed, &got); err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		// Both documents indent their fields alike, so the raw values
		// match byte for byte (escaping included).
		if g, ok := got[k]; !ok || !bytes.Equal(g, w) {
			t.Errorf("field %q:\n got %s\nwant %s", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("field %q not in the old document", k)
		}
	}
	if len(streamed) != len(old) {
		t.Errorf("%d bytes, the old document %d", len(streamed), len(old))
	}
}

// A time encoding/json refuses fails the streamed document too.
func TestReportWriterBadTime(t *testing.T) {
	rw := NewReportWriter(io.Discard)
	if err := rw.Failure(FailureRecord{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatal("a year past 9999 was written")
	}
	if err := rw.Finish(Report{}); err == nil {
		t.Fatal("Finish after a failed element succeeded")
	}
}

// Writing a failure allocates nothing: the writer's memory does not grow
// with the number of failures.
func TestReportWriterFailureAllocs(t *testing.T) {
	for _, f := range []FailureRecord{
		{Line: 17, Addr: "192.0.2.10", Time: when, User: strPtr("root"), Text: "Failed password for root from 192.0.2.10 port 22 ssh2"},
		{Line: 18, Addr: "2001:db8::1", ID: "x", Time: when, Text: `quoted "user" \ here, caf` + "\u00e9"},
	} {
		rw := NewReportWriter(io.Discard)
		if n := testing.AllocsPerRun(50000, func() { _ = rw.Failure(f) }); n != 0 {
			t.Errorf("%q: %v allocations per failure", f.Text, n)
		}
	}
}

// Test hands every failure to the sink in line order, on one worker or
// several, and its report lists none; KeepFailures lists the same ones.
func TestTestStreamsFailures(t *testing.T) {
	var lines []string
	for i := range 10000 {
		switch i % 4 {
		case 0:
			lines = append(lines, fmt.Sprintf("fail 192.0.2.%d u%d", i%250+1, i))
		case 1:
			lines = append(lines, "skip")
		case 2:
			lines = append(lines, fmt.Sprintf("host h%d", i))
		default:
			lines = append(lines, "nothing here")
		}
	}
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprint(workers, " workers"), func(t *testing.T) {
			kept, err := Test(buildWordMatcher, wordLog(lines...), when, TestOptions{KeepFailures: true}, workers)
			if err != nil {
				t.Fatal(err)
			}
			var streamed []FailureRecord
			sink := func(f FailureRecord) error { streamed = append(streamed, f); return nil }
			rep, err := Test(buildWordMatcher, wordLog(lines...), when, TestOptions{Failures: sink}, workers)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failures != nil {
				t.Errorf("the report holds %d failures", len(rep.Failures))
			}
			if rep.Matched != 5000 || len(streamed) != rep.Matched || rep.Lines != len(lines) {
				t.Fatalf("%d streamed, report %+v", len(streamed), rep)
			}
			for i, f := range streamed {
				k := kept.Failures[i]
				if f.Line != 2*i+1 || f.Addr != k.Addr || f.Line != k.Line || f.Text != k.Text || (f.User == nil) != (k.User == nil) {
					t.Fatalf("failure %d: %+v, kept %+v", i, f, k)
				}
			}
		})
	}
}

// A sink that fails stops the run: Test returns its error and calls it no
// more.
func TestTestStopsWhenTheSinkFails(t *testing.T) {
	lines := make([]string, 50000)
	for i := range lines {
		lines[i] = "fail 192.0.2.1"
	}
	broken := errors.New("broken pipe")
	calls := 0
	sink := func(FailureRecord) error {
		calls++
		if calls == 3 {
			return broken
		}
		return nil
	}
	if _, err := Test(buildWordMatcher, wordLog(lines...), when, TestOptions{Failures: sink}, 2); !errors.Is(err, broken) {
		t.Fatalf("err %v", err)
	}
	if calls != 3 {
		t.Errorf("sink called %d times", calls)
	}
}

// The other workers' matchers are built while the first one reads: a
// build that fails then stops the run with its error (and nothing hangs).
func TestTestStopsWhenALaterBuildFails(t *testing.T) {
	lines := make([]string, 50000)
	for i := range lines {
		lines[i] = "fail 192.0.2.1"
	}
	refused := errors.New("refused")
	for _, fails := range []int{2, 3} {
		builds := 0
		build := func() (Matcher, error) {
			if builds++; builds == fails {
				return nil, refused
			}
			return buildWordMatcher()
		}
		if _, err := Test(build, wordLog(lines...), when, TestOptions{}, 3); !errors.Is(err, refused) {
			t.Fatalf("build %d fails: err %v", fails, err)
		}
	}
}

// BenchmarkReportWriter is the cost of one failure in `logjail test
// --json`: go test -run '^$' -bench ReportWriter -benchmem ./match/
func BenchmarkReportWriter(b *testing.B) {
	f := FailureRecord{Line: 17, Addr: "192.0.2.10", Time: when, User: strPtr("root"),
		Text: "Nov 25 07:13:18 host sshd[4242]: Failed password for root from 192.0.2.10 port 52211 ssh2"}
	rw := NewReportWriter(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if err := rw.Failure(f); err != nil {
			b.Fatal(err)
		}
	}
}
