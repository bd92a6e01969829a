package daemon

import (
	"time"

	"github.com/logjail/logjail/ingest"
)

// A source's health transitions are logged at most healthLogBurst times
// per healthLogWindow: a source that flaps cannot flood the log. A
// transition held back is not lost: the state it led to is logged once the
// window allows, with the number of transitions held back.
const (
	healthLogBurst  = 5
	healthLogWindow = 10 * time.Minute
)

// sourceWatch follows one source's health for the log. It is owned by the
// runner goroutine.
type sourceWatch struct {
	src    ingest.Source
	logged ingest.State // the state the log last told of ("" for none)
	seen   ingest.State // the state at the last check
	held   int          // transitions not logged since the last line
	lines  []time.Time  // when lines were logged, within healthLogWindow
}

// watchSources logs the sources' health transitions: a WARN when one
// becomes unavailable or failing (or changes from one to the other), an
// INFO when it recovers. Retries that leave the state as it is log nothing.
func (r *runner) watchSources(now time.Time) {
	if r.watches == nil {
		for _, src := range r.stages.Sources {
			r.watches = append(r.watches, &sourceWatch{src: src})
		}
	}
	for _, w := range r.watches {
		st := w.src.Stats()
		changed := st.State != w.seen
		w.seen = st.State
		for len(w.lines) > 0 && now.Sub(w.lines[0]) >= healthLogWindow {
			w.lines = w.lines[1:]
		}
		limited := len(w.lines) >= healthLogBurst
		if changed && limited {
			w.held++
		}
		warn := st.State.Bad() && st.State != w.logged
		recovered := !st.State.Bad() && w.logged.Bad()
		if !warn && !recovered {
			if !st.State.Bad() {
				w.logged = st.State
			}
			continue
		}
		if limited {
			continue
		}
		args := []any{"source", w.src.Describe(), "state", string(st.State), "reason", st.Reason}
		if w.held > 0 {
			args = append(args, "held_back", w.held)
		}
		if warn {
			r.log.Warn("source "+string(st.State)+"; it reads nothing", args...)
		} else {
			r.log.Info("source recovered", args...)
		}
		w.logged, w.held = st.State, 0
		w.lines = append(w.lines, now)
	}
}
