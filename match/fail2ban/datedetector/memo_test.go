package datedetector

import (
	"testing"
	"time"
)

// The remembered parse gives what parsing anew gives, line after line:
// the same date text with another now, another zone, the same text at
// other places, and a text that differs by one field.
func TestMemoChangesNothing(t *testing.T) {
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		line string
		now  time.Time
	}{
		{"Dec 31 23:59:59 host a", now},
		{"Dec 31 23:59:59 host b", now},
		{"Dec 31 23:59:59 host c", now.AddDate(1, 0, 0)},
		{"Dec 31 23:59:59 host c", now.In(time.FixedZone("x", 3600))},
		{"[Dec 31 23:59:59] host", now},
		{"Dec 31 23:59:58 host", now},
		{"Dec 31 23:59:58.5 host", now},
		{"Dec 31 23:59:58.5 2025 host", now},
		{"2025-12-31 23:59:58 host", now},
		{"2025-12-31 23:59:58 host", now},
	}
	for _, pattern := range []string{"", "{^LN-BEG}"} {
		memo, _ := New(pattern, time.UTC, now)
		fresh, _ := New(pattern, time.UTC, now)
		for _, s := range steps {
			fresh.memo = dateMemo{}
			got, want := memo.Find(s.line, s.now), fresh.Find(s.line, s.now)
			if got != want {
				t.Errorf("%q %q at %v: %+v, parsed anew %+v", pattern, s.line, s.now, got, want)
			}
		}
	}
}
