// Package bans is a source whose entries are other pipelines' ban
// decisions, for a recidive pipeline: an address banned again and again is
// banned for longer, without re-reading any log.
package bans

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logjail/logjail/ingest"
)

// Event is one ban decision of a pipeline.
type Event struct {
	Pipeline string
	Prefix   netip.Prefix
	Time     time.Time
}

// Bus carries ban events from the pipelines that decide them to the
// sources that subscribed. Publishing never blocks a pipeline: a
// subscriber that falls more than its buffer behind loses events, counted.
type Bus struct {
	mu   sync.Mutex
	subs map[*Source]struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Source]struct{}{}} }

// Publish hands an event to every source subscribed to its pipeline.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if !slices.Contains(s.pipelines, e.Pipeline) {
			continue
		}
		select {
		case s.events <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// eventBuffer is how far a subscriber may fall behind.
const eventBuffer = 4096

// Source delivers the ban events of the given pipelines as entries whose
// failure is already recognised (ingest.Recognised): the pipeline counts
// each ban as a failure of its address, with no filter to run. A prefix
// ban counts for the prefix's first address.
type Source struct {
	bus       *Bus
	pipelines []string
	events    chan Event
	running   atomic.Bool

	read, dropped atomic.Uint64
	health        ingest.Health
}

var _ ingest.Source = (*Source)(nil)

// New returns a source of the bans of pipelines, fed by bus.
func New(bus *Bus, pipelines []string) (*Source, error) {
	if len(pipelines) == 0 {
		return nil, errors.New("bans: no pipelines to follow")
	}
	if bus == nil {
		return nil, errors.New("bans: no ban bus (a bans source runs inside the daemon)")
	}
	return &Source{bus: bus, pipelines: slices.Clone(pipelines), events: make(chan Event, eventBuffer)}, nil
}

// Run subscribes and delivers events until ctx is done.
func (s *Source) Run(ctx context.Context, out chan<- ingest.Entry) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("bans: already running")
	}
	defer s.running.Store(false)
	s.bus.mu.Lock()
	s.bus.subs[s] = struct{}{}
	s.bus.mu.Unlock()
	// Subscribed, it follows the bans as they are decided: reading.
	s.health.Set(ingest.StateReading, "")
	defer func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
		s.health.Set(ingest.StateWaiting, "stopped")
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-s.events:
			entry := e.Entry(time.Now())
			select {
			case out <- entry:
				s.read.Add(1)
				s.health.Entry(entry.ReadAt)
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// Describe names the pipelines followed.
func (s *Source) Describe() string { return "bans of " + strings.Join(s.pipelines, ", ") }

// Stats returns the counters and health.
func (s *Source) Stats() ingest.Stats {
	st := ingest.Stats{Read: s.read.Load(), Dropped: s.dropped.Load()}
	s.health.Fill(&st)
	return st
}

// Entry is the event as a recognised failure of the banned address, read
// at now (what the source delivers; logjail simulate makes the same); its
// line (kept with the bans it leads to) says which pipeline banned what.
func (e Event) Entry(now time.Time) ingest.Entry {
	addr := e.Prefix.String()
	if e.Prefix.IsSingleIP() {
		addr = e.Prefix.Addr().String()
	}
	return ingest.Entry{
		Time:       e.Time,
		ReadAt:     now,
		Message:    fmt.Sprintf("%s banned %s", e.Pipeline, addr),
		Fields:     map[string]string{"pipeline": e.Pipeline},
		Recognised: &ingest.Recognised{Addr: e.Prefix.Masked().Addr()},
	}
}
