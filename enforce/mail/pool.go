package mail

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/state"
)

// Pool shares one Mailer between the pipelines whose mail blocks are the
// same, so that its batching and max_per_hour cover them all. A pool
// serves one loaded configuration: a reload makes a new pool, and so new
// mailers, while an old mailer sends what it holds and ends when the last
// pipeline using it has stopped.
type Pool struct {
	log *slog.Logger

	mu      sync.Mutex
	mailers map[string]*pooled // by the Config, as JSON
}

// pooled is a running Mailer and the pipelines using it.
type pooled struct {
	m     *Mailer
	users map[string]*User // by pipeline
	end   func()           // ends Run (it sends what is queued) and waits for it
}

// NewPool makes an empty pool; its mailers log to log.
func NewPool(log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{log: log, mailers: map[string]*pooled{}}
}

// Use returns pipeline's enforcer on the mailer of cfg, made and running
// from its first use. A pipeline naming the same mail block twice gets the
// same User (mailed once).
func (p *Pool) Use(cfg Config, pipeline string) (*User, error) {
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	key := string(js)
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.mailers[key]
	if s == nil {
		m, err := New(cfg, p.log)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.Run(ctx)
		}()
		s = &pooled{m: m, users: map[string]*User{}, end: func() { cancel(); <-done }}
		p.mailers[key] = s
	}
	u := s.users[pipeline]
	if u == nil {
		u = &User{pool: p, key: key, s: s, pipeline: pipeline}
		s.users[pipeline] = u
	}
	return u, nil
}

// release ends u's use of its mailer; the last user's release ends the
// mailer's sender, which sends what is left.
func (p *Pool) release(u *User) {
	p.mu.Lock()
	if u.s.users[u.pipeline] != u {
		p.mu.Unlock()
		return // released already
	}
	delete(u.s.users, u.pipeline)
	last := len(u.s.users) == 0
	if last {
		delete(p.mailers, u.key)
	}
	p.mu.Unlock()
	if last {
		u.s.end()
	}
}

// User is one pipeline's mail enforcer, on a Mailer it may share.
type User struct {
	pool     *Pool
	key      string
	s        *pooled
	pipeline string
}

var _ enforce.Enforcer = (*User)(nil)

// Mailer is the mailer the user sends through.
func (u *User) Mailer() *Mailer { return u.s.m }

// Start queues the "pipeline started" note (when on lists start); bans
// restored at start were mailed when decided, so none is mailed again.
func (u *User) Start(ctx context.Context, _ []state.Decision, _ time.Time) error {
	return u.s.m.Start(ctx, u.pipeline)
}

// Apply queues the mails of ds; it never waits on the network.
func (u *User) Apply(ctx context.Context, ds []state.Decision) error {
	return enforce.OneByOne(ctx, ds, u.s.m.Ban, u.s.m.Unban)
}

// Stop queues the "pipeline stopped" note (when on lists stop), has the
// queue sent within a second, and releases the mailer.
func (u *User) Stop() {
	_ = u.s.m.Stop(context.Background(), u.pipeline)
	u.pool.release(u)
}
