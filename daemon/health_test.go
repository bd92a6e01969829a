package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/pipelines"
)

// stateSource is a source whose health the test sets; it reads nothing.
type stateSource struct{ h ingest.Health }

func (s *stateSource) Run(ctx context.Context, _ chan<- ingest.Entry) error {
	<-ctx.Done()
	return nil
}
func (s *stateSource) Describe() string { return "test source" }
func (s *stateSource) Stats() ingest.Stats {
	var st ingest.Stats
	s.h.Fill(&st)
	return st
}

// The log tells of transitions into unavailable or error (WARN) and out
// of them (INFO), not of retries in the same state, and at most
// healthLogBurst times per healthLogWindow; what is held back is told
// once the window allows.
func TestSourceHealthLog(t *testing.T) {
	src := &stateSource{}
	var buf bytes.Buffer
	r := &runner{
		stages: &pipelines.Stages{Sources: []ingest.Source{src}},
		log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})).With("pipeline", "p"),
	}
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		name   string
		at     time.Duration // after t0
		state  ingest.State
		reason string
		want   string // the line logged, "" for none
	}{
		{"starts waiting", 0, ingest.StateWaiting, "not started", ""},
		{"reads", time.Second, ingest.StateReading, "", ""},
		{"journal gone", 2 * time.Second, ingest.StateUnavailable, "no journal files in /j",
			`level=WARN msg="source unavailable; it reads nothing" pipeline=p source="test source" state=unavailable reason="no journal files in /j"`},
		{"retried, same state", 3 * time.Second, ingest.StateUnavailable, "no journal files in /j", ""},
		{"failing now", 4 * time.Second, ingest.StateError, "permission denied",
			`level=WARN msg="source error; it reads nothing" pipeline=p source="test source" state=error reason="permission denied"`},
		{"recovers", 5 * time.Second, ingest.StateReading, "",
			`level=INFO msg="source recovered" pipeline=p source="test source" state=reading reason=""`},
		{"waiting is no failure", 6 * time.Second, ingest.StateWaiting, "listening", ""},
		{"fails again", 7 * time.Second, ingest.StateError, "x", `level=WARN msg="source error; it reads nothing" pipeline=p source="test source" state=error reason=x`},
		{"recovers again: the fifth line", 8 * time.Second, ingest.StateReading, "", `level=INFO msg="source recovered" pipeline=p source="test source" state=reading reason=""`},
		{"flapping: held back", 9 * time.Second, ingest.StateError, "y", ""},
		{"held back again", 10 * time.Second, ingest.StateReading, "", ""},
		{"and again", 11 * time.Second, ingest.StateError, "z", ""},
		{"still in the window", healthLogWindow + time.Second, ingest.StateError, "z", ""},
		{"the window allows: the state now", healthLogWindow + 2*time.Second, ingest.StateError, "z",
			`level=WARN msg="source error; it reads nothing" pipeline=p source="test source" state=error reason=z held_back=3`},
	} {
		buf.Reset()
		src.h.Set(step.state, step.reason)
		r.watchSources(t0.Add(step.at))
		got := strings.TrimSpace(buf.String())
		if got != step.want {
			t.Errorf("%s: logged\n%s\nwant\n%s", step.name, got, step.want)
		}
	}
}
