package mail

import (
	"context"
	"errors"
	"os/exec"
	"time"

	smtp "github.com/emersion/go-smtp"
)

// outgoing is a composed mail on its way out.
type outgoing struct {
	msg      []byte
	subject  string
	own      int // queued items it carries
	items    int // own plus the held-back items it summarises
	attempts int
	next     time.Time // when to try again
}

// backlog is what the next mail reports besides its own items.
type backlog struct {
	suppressed int                       // items held back by max_per_hour
	counts     map[string]*[numKinds]int // suppressed items per pipeline and kind
	order      []string                  // pipelines of counts, first seen first
	lines      []string                  // one line per suppressed item, the first maxBacklogLines
	more       int                       // suppressed items without a line
	overflow   int                       // items dropped on a full queue
	lost       int                       // items of mails that failed for good
	lostErr    string                    // why the last of those failed
}

const (
	maxBacklogLines = 1000
	idleWait        = time.Hour
	permanentTries  = 3 // a mail refused for good (5xx) is given up after this many
)

func (b *backlog) add(it item) {
	if b.counts == nil {
		b.counts = map[string]*[numKinds]int{}
	}
	c := b.counts[it.pipeline]
	if c == nil {
		c = new([numKinds]int)
		b.counts[it.pipeline] = c
		b.order = append(b.order, it.pipeline)
	}
	c[it.kind]++
	b.suppressed++
	if len(b.lines) < maxBacklogLines {
		b.lines = append(b.lines, compactLine(it))
	} else {
		b.more++
	}
}

// Run is the sender: it gathers queued items into mails, keeps to
// max_per_hour and retries failed deliveries with backoff (from 5 s,
// doubling, up to 10 min; a mail the server refuses for good is given up
// after 3 tries). When ctx ends, Run sends what is left within 5 seconds,
// as one mail without whois records and regardless of max_per_hour, and
// returns. Call it once; decisions queued before it runs wait for it.
func (m *Mailer) Run(ctx context.Context) {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		m.log.Error("mail: Run called twice")
		return
	}
	m.running = true
	m.mu.Unlock()

	timer := time.NewTimer(idleWait)
	defer timer.Stop()
	for ctx.Err() == nil {
		wait := m.step(ctx)
		if wait <= 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-m.wake:
		case <-timer.C:
		}
	}
	m.final()
}

// step does what is due and returns how long to wait for the next thing.
func (m *Mailer) step(ctx context.Context) time.Duration {
	if p := m.pending; p != nil {
		if wait := time.Until(p.next); wait > 0 {
			return wait
		}
		m.attempt(ctx, p)
		if m.pending != nil {
			// Later items wait for it: mails go out in order.
			return max(time.Until(m.pending.next), time.Millisecond)
		}
	}

	now := time.Now()
	m.mu.Lock()
	n := len(m.queue)
	var due time.Time
	if n > 0 {
		due = m.firstAt.Add(m.cfg.batch)
		if !m.hurryAt.IsZero() && m.hurryAt.Before(due) {
			due = m.hurryAt
		}
	}
	m.mu.Unlock()

	queueDue := n > 0 && !now.Before(due)
	if !queueDue && m.back.suppressed == 0 {
		if n == 0 {
			return idleWait
		}
		return due.Sub(now)
	}
	if wait := m.rateWait(); wait > 0 {
		if queueDue {
			m.suppress()
			return wait
		}
		if n > 0 {
			return min(wait, due.Sub(now))
		}
		return wait
	}

	items, overflow := m.take()
	m.back.overflow += overflow
	back := m.back
	m.back = backlog{}
	m.sentAt = append(m.sentAt, m.now())
	p := m.compose(ctx, items, &back, m.cfg.whois)
	m.setPending(p)
	m.attempt(ctx, p)
	return 0
}

// take empties the queue.
func (m *Mailer) take() (items []item, overflow int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	items, overflow = m.queue, m.overflow
	m.queue, m.overflow = nil, 0
	m.firstAt, m.hurryAt = time.Time{}, time.Time{}
	return items, overflow
}

func (m *Mailer) setPending(p *outgoing) {
	m.pending = p
	m.mu.Lock()
	m.inFlight = 0
	if p != nil {
		m.inFlight = p.own
	}
	m.mu.Unlock()
}

// suppress moves the queue into the backlog: the hourly limit is reached.
func (m *Mailer) suppress() {
	items, overflow := m.take()
	m.back.overflow += overflow
	for _, it := range items {
		m.back.add(it)
	}
	m.mu.Lock()
	m.stats.Suppressed += int64(len(items))
	m.mu.Unlock()
	m.log.Warn("mail: max_per_hour reached, decisions will be summarised in the next mail", "held_back", len(items), "max_per_hour", m.cfg.maxPerHour)
}

// rateWait is how long until max_per_hour allows one more mail.
func (m *Mailer) rateWait() time.Duration {
	if m.cfg.maxPerHour < 0 {
		return 0
	}
	now := m.now()
	cut := now.Add(-m.rateWindow)
	i := 0
	for i < len(m.sentAt) && !m.sentAt[i].After(cut) {
		i++
	}
	m.sentAt = m.sentAt[i:]
	if len(m.sentAt) < m.cfg.maxPerHour {
		return 0
	}
	return max(m.sentAt[0].Add(m.rateWindow).Sub(now), time.Millisecond)
}

// attempt tries to deliver p once.
func (m *Mailer) attempt(ctx context.Context, p *outgoing) {
	err := m.deliver(ctx, p.msg)
	if err != nil && ctx.Err() != nil {
		return // cut short by the end of Run: final tries again
	}
	m.done(p, err, false)
}

// done records the outcome of a delivery of p.
func (m *Mailer) done(p *outgoing, err error, last bool) {
	if err == nil {
		m.setPending(nil)
		m.mu.Lock()
		m.stats.Sent++
		m.mu.Unlock()
		m.log.Info("mail: sent", "subject", p.subject, "items", p.items, "attempts", p.attempts+1)
		return
	}
	p.attempts++
	m.mu.Lock()
	m.stats.Failed++
	m.stats.LastError = err.Error()
	m.mu.Unlock()
	if last || permanent(err) && p.attempts >= permanentTries {
		m.setPending(nil)
		m.mu.Lock()
		m.stats.Dropped += int64(p.items)
		m.mu.Unlock()
		m.back.lost += p.items
		m.back.lostErr = err.Error()
		m.log.Error("mail: giving up on a mail", "subject", p.subject, "items", p.items, "attempts", p.attempts, "err", err)
		return
	}
	wait := m.backoffMin << min(p.attempts-1, 30)
	if wait <= 0 || wait > m.backoffMax {
		wait = m.backoffMax
	}
	p.next = time.Now().Add(wait)
	m.log.Warn("mail: delivery failed, will retry", "subject", p.subject, "attempt", p.attempts, "retry_in", wait, "err", err)
}

// permanent reports whether err is a refusal that retrying will not cure:
// an SMTP 5xx reply, or sendmail failing otherwise than with EX_TEMPFAIL.
func permanent(err error) bool {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code >= 500
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode() > 0 && ee.ExitCode() != 75
	}
	return false
}

// final sends what is left once Run's context has ended.
func (m *Mailer) final() {
	ctx, cancel := context.WithTimeout(context.Background(), m.finalGrace)
	defer cancel()
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	if p := m.pending; p != nil {
		m.done(p, m.deliver(ctx, p.msg), true)
	}
	items, overflow := m.take()
	m.back.overflow += overflow
	if len(items) == 0 && m.back.suppressed == 0 {
		if m.back.lost > 0 || m.back.overflow > 0 {
			m.log.Error("mail: stopping with decisions never mailed", "lost", m.back.lost, "overflow", m.back.overflow)
		}
		return
	}
	back := m.back
	m.back = backlog{}
	p := m.compose(ctx, items, &back, false)
	m.setPending(p)
	m.done(p, m.deliver(ctx, p.msg), true)
}
