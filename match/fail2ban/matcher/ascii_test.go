package matcher

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
)

// TestASCIIAgrees compares match/asciire, which runs the converted RE2
// programs on ASCII text, with Go's regexp, groups and all: the
// prefregex, failregexes and ignoreregexes of every fail2ban filter (each
// mode), over fail2ban's sample logs and a generated auth.log (every 8th
// line for the filters but sshd, under -short or -race every 32nd),
// each line whole and from each blank on (as a failregex sees the
// prefregex's content), with its "\n" as the matcher searches it.
// TestShortcutsChangeNothing checks the whole matcher with and without
// asciire; this points at the program that parts.
func TestASCIIAgrees(t *testing.T) {
	testkit.NeedFile(t, corpusFilterDir, "fail2ban")
	all := allSampleLines(t)
	names, _ := filepath.Glob(filepath.Join(corpusFilterDir, "*.conf"))
	seen := map[string]bool{}
	for _, path := range names {
		name := strings.TrimSuffix(filepath.Base(path), ".conf")
		if strings.HasSuffix(name, "common") {
			continue
		}
		var patterns []string
		for _, mode := range []string{"normal", "ddos", "extra", "aggressive"} {
			patterns = append(patterns, convertedPrograms(t, name, mode, seen)...)
		}
		if len(patterns) == 0 {
			continue
		}
		lines := everyNth(all, 8)
		switch {
		case testing.Short() || raceEnabled:
			lines = everyNth(all, 32)
		case name == "sshd":
			lines = all
		}
		t.Run(name, func(t *testing.T) {
			if runs := testkit.ASCIIAgrees(t, patterns, withSuffixes(lines)); name == "sshd" && runs < len(patterns) {
				t.Errorf("sshd: only %d of %d programs run on asciire", runs, len(patterns))
			}
		})
	}
}

// convertedPrograms are the RE2 programs (for ASCII text) of filter name
// in mode that are not in seen yet.
func convertedPrograms(t *testing.T, name, mode string, seen map[string]bool) []string {
	cf, err := loadCorpusFilter(corpusFilterDir, name, map[string]string{"mode": mode})
	if err != nil {
		return nil
	}
	m, err := Compile(name, match.Rules{Dialect: match.DialectFail2ban, Prefregex: cf.Prefregex, Failregex: cf.Failregex,
		Ignoreregex: cf.Ignoreregex, Datepattern: cf.Datepattern, MaxLines: cf.MaxLines})
	if err != nil {
		return nil // a filter logjail refuses is the corpus test's business
	}
	var out []string
	for _, r := range slices.Concat([]*f2bRegex{m.pref}, m.fail, m.ignore) {
		if r == nil || r.re.RE2() == nil || seen[r.re.String()] {
			continue
		}
		seen[r.re.String()] = true
		out = append(out, r.re.String())
	}
	return out
}

// withSuffixes is each line with its "\n", and its text from each blank
// on.
func withSuffixes(lines []string) []string {
	var out []string
	for _, l := range lines {
		for i := 0; i >= 0; {
			out = append(out, l[i:]+"\n")
			j := strings.IndexByte(l[i:], ' ')
			if j < 0 {
				break
			}
			i += j + 1
		}
	}
	return out
}
