package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logjail/logjail/ingest"
)

// TestGlobBudgets: a glob matching more files than a budget allows follows
// as many as it may, in name order, and reports the rest (counted once,
// named in the error state, logged once a minute); when followed files go
// away the others are followed in their place.
func TestGlobBudgets(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*Config)
		why  string
	}{
		{"max_files", func(c *Config) { c.MaxFiles = 3 }, "max_files (3) reached"},
		{"descriptor budget", func(c *Config) { c.Budget = NewBudget(3) }, "the file sources' descriptor budget (3) is used up"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, notify bool) {
				dir := t.TempDir()
				const n = 10
				for i := range n {
					writeFile(t, filepath.Join(dir, fmt.Sprintf("a%02d.log", i)), "old\n")
				}
				cfg := testConfig(filepath.Join(dir, "*.log"))
				cfg.DisableNotify = !notify
				tc.cfg(&cfg)
				h := start(t, cfg, nil)
				budget := cfg.Budget

				want := fmt.Sprintf("%d matching files not followed: ", n-3)
				st := h.tail.Stats()
				if st.State != ingest.StateError || !strings.Contains(st.Reason, want+tc.why) || st.Errors != n-3 {
					t.Fatalf("Stats %+v, want error %q and %d errors", st, want+tc.why, n-3)
				}
				if budget != nil && budget.Used() != 3 {
					t.Errorf("budget used %d, want 3", budget.Used())
				}
				// The first files by name are followed.
				appendFile(t, filepath.Join(dir, "a00.log"), "a00 new\n")
				appendFile(t, filepath.Join(dir, "a09.log"), "a09 unfollowed\n")
				h.expect("a00 new")
				// Rescans neither count nor log the same files again.
				h.settle()
				h.settle()
				if st := h.tail.Stats(); st.Errors != n-3 {
					t.Errorf("errors %d after rescans, want %d", st.Errors, n-3)
				}
				if c := strings.Count(h.logs.String(), "matching files not followed"); c != 1 {
					t.Errorf("logged %d times, want once (rate-limited):\n%s", c, h.logs)
				}

				// Followed files go away: the next ones by name take their place.
				for i := range 3 {
					os.Remove(filepath.Join(dir, fmt.Sprintf("a%02d.log", i)))
				}
				h.waitUntil("the next files followed", func() bool {
					return strings.Contains(h.tail.Stats().Reason, fmt.Sprintf("%d matching files not followed", n-6))
				})
				appendFile(t, filepath.Join(dir, "a03.log"), "a03 new\n")
				h.expect("a00 new", "a03 new")
				if st := h.tail.Stats(); st.Errors != n-3 {
					t.Errorf("errors %d, want %d: files counted again", st.Errors, n-3)
				}
				h.stop()
				if budget != nil && budget.Used() != 0 {
					t.Errorf("budget used %d after stop, want 0", budget.Used())
				}
			})
		})
	}
}
