package simulate

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
)

// purgeEvery is how often, in log time, the ban history is purged of what
// is older than dbpurgeage: hourly, as the daemon does.
const purgeEvery = time.Hour

// decide counts the failures found, in the order of their times, each at
// its own time (see the package's doc).
func (s *sim) decide() error {
	slices.SortStableFunc(s.failures, func(a, b failure) int { return a.at.Compare(b.at) })
	var lastTick, lastPurge time.Time
	for i := range s.failures {
		fl := &s.failures[i]
		now := fl.at
		if lastTick.IsZero() || now.Unix() != lastTick.Unix() {
			s.tick(now)
			lastTick = now
		}
		if lastPurge.IsZero() || now.Sub(lastPurge) >= purgeEvery {
			if err := s.purge(now); err != nil {
				return err
			}
			lastPurge = now
		}
		if err := s.fail(fl.p, fl.failure(), fl.line, now); err != nil {
			return err
		}
	}
	return nil
}

// tick lifts the bans that ended by now and trims the windows, in every
// pipeline: the daemon's tick.
func (s *sim) tick(now time.Time) {
	for _, p := range s.pipes {
		p.st.Tracker.Expire(now)
	}
}

// purge forgets the ban history older than each pipeline's dbpurgeage at
// now, as the daemon's hourly purge does.
func (s *sim) purge(now time.Time) error {
	_, err := s.history.PurgeHistoryFunc(func(pipeline string) time.Time {
		age := pipelines.DefaultDBPurgeAge
		if p, ok := s.byName[pipeline]; ok {
			age = p.st.Tracker.Policy().DBPurgeAge
		}
		return now.Add(-age)
	})
	if err != nil {
		return fmt.Errorf("purging the ban history: %w", err)
	}
	return nil
}

// fail counts failure f of pipeline p at now as the daemon's runner does
// (Stages.Count). A ban is recorded in the history and counts as a failure
// in p's followers.
func (s *sim) fail(p *pipe, f match.Failure, line Line, now time.Time) error {
	key := p.st.Tracker.PrefixOf(f.Addr)
	p.remember(key, line)
	d, ok := p.st.Count(f, now)
	if !ok {
		return nil
	}
	if err := s.history.RecordBan(d); err != nil {
		return fmt.Errorf("ban history: %w", err)
	}
	s.bans = append(s.bans, banOf(d, p.take(key)))
	p.sum.Bans++
	for _, q := range p.followers {
		e := bans.Event{Pipeline: d.Pipeline, Prefix: d.Prefix, Time: d.Time}.Entry(now)
		rf := match.RecognisedFailure(q.spec.Name, &e)
		if err := s.fail(q, rf, Line{Text: e.Message}, now); err != nil {
			return err
		}
	}
	return nil
}

// remember keeps line as key's latest failure line, its perKey last kept.
func (p *pipe) remember(key netip.Prefix, line Line) {
	ls := p.recent[key]
	if len(ls) == p.perKey {
		ls = append(ls[:0], ls[1:]...)
	}
	p.recent[key] = append(ls, line)
}

// take returns key's failure lines, oldest first, and forgets them.
func (p *pipe) take(key netip.Prefix) []Line {
	ls := p.recent[key]
	delete(p.recent, key)
	return ls
}

// report is the simulation's report.
func (s *sim) report() *Report {
	r := &Report{Logs: s.logs, Pipelines: []PipelineSummary{}, Bans: s.bans}
	if r.Logs == nil {
		r.Logs = []LogSummary{}
	}
	if r.Bans == nil {
		r.Bans = []Ban{}
	}
	for _, p := range s.pipes {
		st := p.st.Tracker.Stats()
		p.sum.Failures = st.TotalFailed
		for why, n := range st.Refused {
			p.sum.Refused[string(why)] = n
		}
		r.Pipelines = append(r.Pipelines, p.sum)
	}
	return r
}
