//go:build cgo && linux

package journald

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

// waitState polls the source's state until it is want.
func waitState(t *testing.T, r *running, want ingest.State) ingest.Stats {
	t.Helper()
	var st ingest.Stats
	testkit.WaitFor(t, deadline, func() error {
		st = r.j.Stats()
		return testkit.Check(st.State == want, "state %q (%s), want %q", st.State, st.Reason, want)
	})
	return st
}

// A journal directory without journal files, or that does not exist, is
// unavailable; the journal written there later is read from its start,
// and the source is reading.
func TestHealth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mkdir  bool
		reason string
		// retry is the pause before reopening: an empty journal stays
		// open meanwhile, and must see the files that appear in it.
		retry time.Duration
	}{
		{"empty directory", true, "no journal files in DIR", time.Hour},
		{"no directory", false, "no journal: DIR does not exist", 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "journal")
			if tc.mkdir {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			r := start(t, Config{Directory: dir, Match: []string{"_SYSTEMD_UNIT=ssh.service"}}, nil,
				func(j *Journal) { j.retry = tc.retry })
			if st := r.j.Stats(); st.State == ingest.StateReading {
				t.Errorf("reading before any journal exists")
			}
			st := waitState(t, r, ingest.StateUnavailable)
			if want := strings.ReplaceAll(tc.reason, "DIR", dir); st.Reason != want || !st.LastEntry.IsZero() {
				t.Errorf("reason %q, last entry %v; want %q, none", st.Reason, st.LastEntry, want)
			}

			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			newClock().write(t, filepath.Join(dir, "remote.journal"), msg("ssh.service", "first"), msg("ssh.service", "second"))
			got := r.recv(t, 2)
			wantMessages(t, got, "first", "second")
			st = waitState(t, r, ingest.StateReading)
			if st.Reason != "" || !st.LastEntry.Equal(got[1].ReadAt) {
				t.Errorf("reading: reason %q, last entry %v; want none, %v", st.Reason, st.LastEntry, got[1].ReadAt)
			}
		})
	}
}

// Probe, for `logjail validate`, tells a journal with files from one
// without.
func TestProbe(t *testing.T) {
	c := newClock()
	full := t.TempDir()
	file := filepath.Join(full, "f.journal")
	c.write(t, file, msg("ssh.service", "x"))
	empty := t.TempDir()
	missing := filepath.Join(empty, "nothing")
	for _, tc := range []struct {
		name string
		cfg  Config
		want error // nil, or what the error wraps
	}{
		{"directory with a journal", Config{Directory: full}, nil},
		{"journal file", Config{Files: []string{file}}, nil},
		{"empty directory", Config{Directory: empty}, ErrNoJournal},
		{"missing directory", Config{Directory: missing}, ErrNoJournal},
		{"missing file", Config{Files: []string{file, missing}}, ErrNoJournal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Probe(tc.cfg)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Probe: %v, want %v", err, tc.want)
			}
		})
	}
}
