package mail

import (
	"context"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
)

// Identical mail blocks share one mailer, for one User per pipeline; a
// start mails no restored ban; the mailer's sender ends with its last
// user, having sent what was queued.
func TestPoolSharesOneMailer(t *testing.T) {
	srv := startSMTP(t, serverOpts{})
	cfg := Config{To: []string{"root@example.org"}, From: "logjail@example.org", SMTP: SMTP{Addr: srv.Addr(), TLS: "none"}, Batch: time.Hour}
	other := cfg
	other.SubjectPrefix = "[other]"
	pool := NewPool(nil)
	use := func(cfg Config, pipeline string) *User {
		t.Helper()
		u, err := pool.Use(cfg, pipeline)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	a, b, again, c := use(cfg, "sshd"), use(cfg, "nginx"), use(cfg, "sshd"), use(other, "sshd")
	if a.Mailer() != b.Mailer() || again != a || c.Mailer() == a.Mailer() {
		t.Fatalf("same block: mailers %p %p, same pipeline: users %p %p, other block: %p", a.Mailer(), b.Mailer(), a, again, c.Mailer())
	}
	ctx := context.Background()
	if err := a.Start(ctx, []state.Decision{ban("sshd", "192.0.2.1")}, t0); err != nil {
		t.Fatal(err)
	}
	if s := a.Mailer().Stats(); s.Queued != 0 {
		t.Errorf("a start queued mail: %s", fmtStats(s))
	}
	if err := b.Apply(ctx, []state.Decision{ban("nginx", "203.0.113.7")}); err != nil {
		t.Fatal(err)
	}
	a.Stop()
	a.Stop() // a second Stop releases nothing more
	if s := b.Mailer().Stats(); s.Queued != 1 || s.Sent != 0 {
		t.Errorf("after the first user stopped: %s; want the ban queued, unsent", fmtStats(s))
	}
	b.Stop()
	testkit.WaitFor(t, 10*time.Second, func() error {
		return testkit.Check(srv.Count() == 1, "%d mails sent at the last user's stop, want 1", srv.Count())
	})
	if err := b.Apply(ctx, []state.Decision{ban("nginx", "203.0.113.8")}); err != nil {
		t.Fatal(err)
	}
	if s := b.Mailer().Stats(); s.Dropped != 1 {
		t.Errorf("after the sender ended: %s; want the ban dropped", fmtStats(s))
	}
	c.Stop()
}
