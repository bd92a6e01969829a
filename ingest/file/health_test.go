package file

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/logjail/logjail/ingest"
)

// The state follows the file: waiting while it does not exist, error
// while something else is in its place, reading once it is a file; the
// last entry's time follows the lines delivered.
func TestHealth(t *testing.T) {
	modes(t, func(t *testing.T, notify bool) {
		dir := t.TempDir()
		path := filepath.Join(dir, "auth.log")
		cfg := testConfig(path)
		cfg.DisableNotify = !notify
		if tl, err := New(cfg, nil, nil); err != nil {
			t.Fatal(err)
		} else if st := tl.Stats(); st.State != ingest.StateWaiting || st.Reason != "not started" {
			t.Errorf("before Run: %q (%s)", st.State, st.Reason)
		}
		h := start(t, cfg, nil)
		for _, step := range []struct {
			name   string
			do     func(t *testing.T)
			state  ingest.State
			reason string
			lines  int
		}{
			{"missing", func(*testing.T) {}, ingest.StateWaiting, "no file yet: " + path, 0},
			{"a directory in its place", func(t *testing.T) {
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			}, ingest.StateError, path + ": not a regular file; ignored", 0},
			{"the file appears", func(t *testing.T) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, "first line\n")
			}, ingest.StateReading, "", 1},
		} {
			step.do(t)
			h.waitUntil(step.name, func() bool {
				st := h.tail.Stats()
				// The time is stored just after the send the consumer sees.
				return st.State == step.state && len(h.entries()) == step.lines && st.LastEntry.IsZero() == (step.lines == 0)
			})
			st := h.tail.Stats()
			if st.Reason != step.reason {
				t.Errorf("%s: reason %q, want %q", step.name, st.Reason, step.reason)
			}
			if es := h.entries(); len(es) == 0 && !st.LastEntry.IsZero() {
				t.Errorf("%s: last entry %v before any entry", step.name, st.LastEntry)
			} else if len(es) > 0 && !st.LastEntry.Equal(es[len(es)-1].ReadAt) {
				t.Errorf("%s: last entry %v, want %v", step.name, st.LastEntry, es[len(es)-1].ReadAt)
			}
		}
	})
}
