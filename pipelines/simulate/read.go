package simulate

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/file"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state/store"
)

// sim is one simulation: its pipelines, the failures the LOGs hold and
// what was decided.
type sim struct {
	pipes  []*pipe // in the configuration's order
	byName map[string]*pipe
	// history is the throwaway store of the ban history.
	history *store.Store
	logs    []LogSummary
	// failures are the failures the LOGs hold, in reading order until
	// decide sorts them by time.
	failures []failure
	bans     []Ban
	// now is Options.Now.
	now time.Time
}

// pipe is one simulated pipeline.
type pipe struct {
	spec  *pipelines.Pipeline
	st    *pipelines.Stages
	reads bool // it reads LOGs
	// followers are the pipelines whose bans sources follow this one.
	followers []*pipe
	// recent holds each counting prefix's last failure lines, at most
	// perKey, for the ban they lead to (the daemon's recent lines).
	recent map[netip.Prefix][]Line
	perKey int
	sum    PipelineSummary
	// clock is the time of the last failure found in the LOG being read,
	// the time of a line without a date.
	clock time.Time
}

// failure is a failure found in a LOG, for pipeline p: what the tracker
// reads of a match.Failure (a flood's millions are held until decide).
type failure struct {
	p    *pipe
	addr netip.Addr
	at   time.Time
	user string
	line Line
}

// failure returns fl as the tracker's failure.
func (fl *failure) failure() match.Failure {
	return match.Failure{Pipeline: fl.p.spec.Name, Addr: fl.addr, ID: fl.addr.String(), Time: fl.at, User: fl.user, Line: fl.line.Text}
}

// maxLinesPerBan bounds the lines a ban carries, as the daemon's do.
const maxLinesPerBan = 50

// add adds a built pipeline.
func (s *sim) add(spec *pipelines.Pipeline, st *pipelines.Stages) {
	p := &pipe{spec: spec, st: st, reads: readsLogs(spec), recent: map[netip.Prefix][]Line{},
		perKey: max(min(spec.MaxRetry, maxLinesPerBan), 1)}
	p.sum = PipelineSummary{Pipeline: spec.Name, Logs: []string{}, Follows: []string{}, Refused: map[string]uint64{}}
	s.pipes = append(s.pipes, p)
	s.byName[spec.Name] = p
}

// link makes each pipeline a follower of the simulated pipelines its bans
// sources follow.
func (s *sim) link() {
	for _, p := range s.pipes {
		for _, name := range followed(p.spec) {
			if q, ok := s.byName[name]; ok && q != p {
				q.followers = append(q.followers, p)
				p.sum.Follows = append(p.sum.Follows, name)
			}
		}
	}
}

// read matches the lines of the LOG at path with every pipeline that
// reads logs, read once per framing (max_line) they ask for.
func (s *sim) read(path string) error {
	// Without blocking: a FIFO given as a LOG is refused, not waited on.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	ref := fi.ModTime()
	if !s.now.IsZero() {
		ref = s.now
	}
	sum := LogSummary{Path: path}
	groups := map[int][]*pipe{}
	var order []int
	for _, p := range s.pipes {
		if !p.reads {
			continue
		}
		p.sum.Logs = append(p.sum.Logs, path)
		p.clock = ref
		m := maxLine(p.spec)
		if _, ok := groups[m]; !ok {
			order = append(order, m)
		}
		groups[m] = append(groups[m], p)
	}
	for i, m := range order {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		lines, skipped, err := file.Replay(f, m, func(n int, msg string) error {
			for _, p := range groups[m] {
				s.match(p, path, n, msg, ref)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if i == 0 { // the first framing's count of skipped lines is reported
			sum.Lines, sum.Skipped = lines, skipped
		}
	}
	s.logs = append(s.logs, sum)
	return nil
}

// match runs p's matcher on line n of the LOG at path, ref placing dates
// without a year, and keeps a failure it finds.
func (s *sim) match(p *pipe, path string, n int, msg string, ref time.Time) {
	e := ingest.Entry{Message: msg, ReadAt: p.clock}
	p.sum.Lines++
	f, out := p.st.Matcher.Match(&e, ref)
	if out != match.Matched {
		return
	}
	p.sum.Matched++
	p.clock = f.Time
	s.failures = append(s.failures, failure{p: p, addr: f.Addr, at: f.Time, user: f.User, line: Line{Log: path, Line: n, Text: msg}})
}
