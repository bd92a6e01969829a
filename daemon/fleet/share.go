package fleet

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/logjail/logjail/enforce"
	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest"
	ingestnats "github.com/logjail/logjail/ingest/nats"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

// sharedFailure is a failure as published to the fleet.
type sharedFailure struct {
	Addr string    `json:"addr"`
	Time time.Time `json:"time"`
	User string    `json:"user,omitempty"`
	Line string    `json:"line"`
}

// maxSharedLine bounds the line of a failure this node shares.
const maxSharedLine = 2048

// decodeFailure turns a failure another node shared into an entry whose
// failure is already recognised: this node's own, and the NATS servers,
// are skipped; what is not a host address with a time is bad.
func (f *Fleet) decodeFailure(header map[string][]string, data []byte, now time.Time) (ingest.Entry, ingestnats.Verdict) {
	node := natsgo.Header(header).Get(headerNode)
	if node == f.spec.Node {
		return ingest.Entry{}, ingestnats.Skip
	}
	var sf sharedFailure
	if err := json.Unmarshal(data, &sf); err != nil {
		return ingest.Entry{}, ingestnats.Bad
	}
	addr, err := netip.ParseAddr(sf.Addr)
	if err != nil || sf.Time.IsZero() || !state.HostAddress(addr) {
		return ingest.Entry{}, ingestnats.Bad
	}
	if f.protected(addr) {
		return ingest.Entry{}, ingestnats.Skip
	}
	if sf.Time.After(now) {
		sf.Time = now // another node's clock ahead of ours
	}
	node = ingest.Clip(node, 64)
	return ingest.Entry{
		Time: sf.Time, ReadAt: now, Host: node,
		Message:    ingest.Clip(sf.Line, f.bounds.LineBytes),
		Recognised: &ingest.Recognised{Addr: addr.Unmap(), User: sf.User, Fleet: true, Node: node},
	}, ingestnats.Deliver
}

// Share is a shared pipeline's side of the fleet: an enforcer that stages
// the node's own bans and manual unbans, and the failures the pipeline
// recognises, into the outbox.
type Share struct {
	f        *Fleet
	pipeline string

	mu     sync.Mutex
	staged []store.OutboxRecord
}

var (
	_ enforce.Enforcer = (*Share)(nil)
	_ enforce.Outboxed = (*Share)(nil)
)

func (s *Share) stage(r store.OutboxRecord) {
	s.mu.Lock()
	s.staged = append(s.staged, r)
	s.mu.Unlock()
}

// Failure shares a failure this node recognised.
func (s *Share) Failure(f match.Failure) {
	data, _ := json.Marshal(sharedFailure{Addr: f.Addr.String(), Time: f.Time.UTC(), User: f.User, Line: ingest.Clip(f.Line, maxSharedLine)})
	s.stage(store.OutboxRecord{Sink: failuresSink, Subject: failuresSubject + s.pipeline, MsgID: nuid.Next(), Header: map[string]string{headerNode: s.f.spec.Node}, Data: data})
}

// banSubject is the subject of an address's ban state: the address's
// characters that NATS treats specially become '_' or '-'.
func banSubject(pipeline string, p netip.Prefix) string {
	token := strings.NewReplacer(".", "_", ":", "-", "/", "_").Replace(p.String())
	return bansSubject + pipeline + "." + token
}

func (s *Share) decision(d state.Decision) {
	ev := enfnats.NewEvent(d, s.f.spec.Node)
	rec := ev.Record(bansSink, banSubject(s.pipeline, d.Prefix))
	rec.Header[headerNode] = s.f.spec.Node
	s.stage(rec)
}

// Ban shares a ban this node decided; one adopted from the fleet is not
// published back (no echo).
func (s *Share) Ban(_ context.Context, d state.Decision) error {
	if !d.Fleet && d.Origin == "" {
		s.decision(d)
	}
	return nil
}

// Unban shares a lifted ban, unless it came from the fleet or expired:
// every node expires its bans itself.
func (s *Share) Unban(_ context.Context, d state.Decision) error {
	if !d.Fleet && d.Reason != "expired" {
		d.Origin = ""
		s.decision(d)
	}
	return nil
}

// Apply shares the decisions of ds that are this node's.
func (s *Share) Apply(ctx context.Context, ds []state.Decision) error {
	return enforce.OneByOne(ctx, ds, s.Ban, s.Unban)
}

// Start shares nothing: a restart decides nothing.
func (s *Share) Start(context.Context, []state.Decision, time.Time) error { return nil }

// Stop does nothing: the fleet's publisher outlives the pipelines.
func (s *Share) Stop() {}

// TakeOutbox returns what was staged since the last commit.
func (s *Share) TakeOutbox() []store.OutboxRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.staged
	s.staged = nil
	return out
}

// Committed wakes the publishers.
func (s *Share) Committed() {
	s.f.failures.Notify()
	s.f.bans.Notify()
}

// Publishers are the fleet's publishers (for status and metrics).
func (s *Share) Publishers() []*enfnats.Publisher {
	return []*enfnats.Publisher{s.f.failures, s.f.bans}
}
