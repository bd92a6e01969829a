package matcher

import (
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
)

// sshdOnRE2: fail2ban's installed sshd.conf runs its most-hit failregex
// (^Failed <cmnfailed> for ..., with the conditionals (?(cond_inv)...) and
// (?(cond_user)...) and the look-ahead loops (?:(?! from ).)*) on RE2, and
// so does the publickey one, in every mode; in the default mode (normal)
// and in ddos every failregex runs on RE2. (Modes extra and aggressive
// add (?!found\b) inside a repetition, which stays on the backtracking
// engine.)
func TestInstalledSSHDOnRE2(t *testing.T) {
	for _, mode := range []string{"normal", "ddos", "extra", "aggressive"} {
		cf, err := loadCorpusFilter(corpusFilterDir, "sshd", map[string]string{"mode": mode})
		if err != nil {
			testkit.Missing(t, "%v", err)
		}
		m, err := Compile("sshd", match.Rules{Dialect: match.DialectFail2ban, Prefregex: cf.Prefregex,
			Failregex: cf.Failregex, Ignoreregex: cf.Ignoreregex, Datepattern: cf.Datepattern,
			MaxLines: cf.MaxLines, Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		failed := false
		for i, e := range m.Engines() {
			src := cf.Failregex[i]
			cond := strings.HasPrefix(src, "^Failed ") && strings.Contains(src, "(?(cond_")
			failed = failed || cond
			if e != match.EngineRE2 && (cond || mode == "normal" || mode == "ddos") {
				t.Errorf("%s: failregex %d runs on %s: %s", mode, i+1, e, src)
			}
		}
		if !failed {
			t.Errorf("%s: no ^Failed ... (?(cond_...) failregex in %s", mode, corpusFilterDir)
		}
	}
}
