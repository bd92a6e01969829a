// Package mail reports decisions by e-mail: the counterpart of fail2ban's
// mail actions, with the whois record of each banned address (whois: true)
// and the log lines that led to the ban (lines: true).
//
// Ban, Unban, Start and Stop only queue; one sender goroutine (Run) gathers
// what arrives within the batch window into one mail, looks up whois
// records, keeps to the hourly mail limit and retries failed sends with
// backoff. Mail goes out through an SMTP server (github.com/emersion/go-smtp)
// or a local sendmail program.
//
// A mail stays a sane size whatever the burst: the first 100 items are
// written out in full (each ban with its last 50 log lines, cut at 1000
// bytes, and whois for the first 20 addresses), the rest get one line each.
// Text from logs, whois servers and pipeline names is made safe: invalid
// UTF-8 replaced, control characters escaped, nothing raw in a header; the
// body is quoted-printable.
package mail

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/logjail/logjail/state"
)

// Config is one mail action. The comments give the YAML key each field is
// read from; smtp.* keys are the fields of SMTP.
type Config struct {
	// To (to) lists the recipients, RFC 5322 addresses such as
	// "root@example.org" or "Ops <ops@example.org>"; at least one.
	To []string
	// From (from) is the sender: the From header and the SMTP envelope
	// sender.
	From string
	// SMTP (smtp) sends through an SMTP server. Exactly one of smtp.addr
	// and sendmail is set.
	SMTP SMTP
	// Sendmail (sendmail) is the argv of a local sendmail program that gets
	// the message on its standard input, run without a shell, e.g.
	// ["/usr/sbin/sendmail", "-t", "-oi"]: -t makes it read the recipients
	// from the To header, -oi keeps a lone "." line from ending the input.
	// One run may take a minute at most.
	Sendmail []string
	// Whois (whois) adds the whois record of every banned address (at
	// most 16 KiB each, 10 s per lookup; the first 20 addresses of a mail).
	Whois bool
	// WhoisServer (whois_server) is the server asked first, "host:port"
	// or "host" (port 43); default "whois.iana.org:43". One `refer:`
	// referral in its answer is followed.
	WhoisServer string
	// Lines (lines) adds the matched log lines of every ban (fail2ban's
	// action_mwl).
	Lines bool
	// On (on) is what is mailed: a subset of ban, unban, start and stop;
	// default [ban].
	On []string
	// Batch (batch) is the window that gathers decisions into one mail:
	// the mail goes out this long after the first of them; default 1m.
	Batch time.Duration
	// MaxPerHour (max_per_hour) limits the mails of any 60 minutes;
	// default 20, -1 for no limit. Decisions due while the limit holds are
	// counted and summarised in the next mail that may go, never dropped
	// without a word.
	MaxPerHour int
	// SubjectPrefix (subject_prefix) starts every subject; default
	// "[logjail]".
	SubjectPrefix string
}

// SMTP is how mail reaches an SMTP server.
type SMTP struct {
	// Addr (smtp.addr) is the server, "host:port"; without a port, 587
	// (465 with tls: tls, 25 with tls: none).
	Addr string
	// TLS (smtp.tls) is "starttls" (the default: STARTTLS is required, the
	// certificate verified), "tls" (implicit TLS, as on port 465, the
	// default there) or "none" (plain text).
	TLS string
	// Username (smtp.username) turns on AUTH PLAIN; its password is
	// Password (smtp.password) or the first line of the file PasswordFile
	// (smtp.password_file), one of the two. A password is never sent
	// without TLS, unless the server is a loopback address.
	Username, Password, PasswordFile string
	// CA (smtp.ca) is a PEM file of the certificates that may sign the
	// server's; default the system's roots.
	CA string
	// Timeout (smtp.timeout) bounds one delivery, connection to QUIT;
	// default 30s.
	Timeout time.Duration
}

// Stats counts what the mailer did since New.
type Stats struct {
	// Sent counts mails delivered.
	Sent int64
	// Failed counts delivery attempts that failed (a mail retried three
	// times counts three).
	Failed int64
	// Queued is what waits: decisions and start/stop notes, queued or in a
	// mail being retried.
	Queued int64
	// Suppressed counts decisions held back by max_per_hour and
	// summarised in a later mail.
	Suppressed int64
	// Dropped counts decisions lost: the queue was full, a mail failed for
	// good, or they came after the sender stopped.
	Dropped int64
	// LastError is the last delivery error, "" when there was none.
	LastError string
}

// Mailer is the mail enforcer.
type Mailer struct {
	cfg      settings
	log      *slog.Logger
	hostname string
	deliver  func(ctx context.Context, msg []byte) error

	// Knobs, fixed at New; tests shorten them.
	now          func() time.Time // the clock of the hourly limit
	rateWindow   time.Duration
	backoffMin   time.Duration
	backoffMax   time.Duration
	stopGrace    time.Duration // Stop sends the queue this soon
	finalGrace   time.Duration // what Run may take after its context ends
	queueMax     int
	whoisTimeout time.Duration

	wake chan struct{}

	mu       sync.Mutex
	queue    []item
	firstAt  time.Time // when queue[0] arrived
	hurryAt  time.Time // non-zero: Stop wants the queue out by then
	overflow int       // items dropped on a full queue, not reported yet
	inFlight int       // items in the mail being sent or retried
	stopped  bool      // Run has returned
	running  bool      // Run has started
	stats    Stats

	// The sender's own state: only Run's goroutine touches it.
	pending *outgoing
	sentAt  []time.Time // m.now() of each mail sent within rateWindow
	back    backlog
}

const (
	defaultWhoisServer = "whois.iana.org:43"
	defaultBatch       = time.Minute
	defaultMaxPerHour  = 20
	defaultQueueMax    = 10000
	sendmailTimeout    = time.Minute
)

// New validates cfg; an error names the YAML key at fault. The mailer sends
// nothing until Run runs.
func New(cfg Config, log *slog.Logger) (*Mailer, error) {
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mailer{
		cfg:          s,
		log:          log,
		hostname:     localName(),
		now:          time.Now,
		rateWindow:   time.Hour,
		backoffMin:   5 * time.Second,
		backoffMax:   10 * time.Minute,
		stopGrace:    time.Second,
		finalGrace:   5 * time.Second,
		queueMax:     defaultQueueMax,
		whoisTimeout: 10 * time.Second,
		wake:         make(chan struct{}, 1),
	}
	if s.smtp != nil {
		m.deliver = m.sendSMTP
	} else {
		m.deliver = m.sendmail
	}
	return m, nil
}

// itemKind is what a queued item reports.
type itemKind uint8

const (
	kindBan itemKind = iota
	kindUnban
	kindStart
	kindStop
	numKinds
)

var kindNames = map[string]itemKind{"ban": kindBan, "unban": kindUnban, "start": kindStart, "stop": kindStop}

// item is a decision, or a pipeline's start or stop.
type item struct {
	kind     itemKind
	pipeline string
	d        state.Decision // d.Lines holds only what the mail will show
	lines    int            // how many lines d had
	at       time.Time
}

// keptLines is what a queued decision keeps of its log lines: what its
// mail shows, so that a long queue holds little. The item at position pos
// of the queue is written out in full only among the first maxDetailed;
// a line longer than maxLineBytes keeps one byte more, so it is marked cut.
func (m *Mailer) keptLines(lines []string, pos int) []string {
	if !m.cfg.lines || pos >= maxDetailed || len(lines) == 0 {
		return nil
	}
	lines = lines[max(0, len(lines)-maxLines):]
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > maxLineBytes+1 {
			l = strings.Clone(l[:maxLineBytes+1]) // no hold on the long one
		}
		out[i] = l
	}
	return out
}

// Ban queues a mail about d; it never waits on the network.
func (m *Mailer) Ban(_ context.Context, d state.Decision) error {
	if m.cfg.on[kindBan] {
		m.enqueue(item{kind: kindBan, pipeline: d.Pipeline, d: d, at: time.Now()}, false)
	}
	return nil
}

// Unban queues a mail about d when on lists unban.
func (m *Mailer) Unban(_ context.Context, d state.Decision) error {
	if m.cfg.on[kindUnban] {
		m.enqueue(item{kind: kindUnban, pipeline: d.Pipeline, d: d, at: time.Now()}, false)
	}
	return nil
}

// Start queues a "pipeline started" note when on lists start.
func (m *Mailer) Start(_ context.Context, pipeline string) error {
	if m.cfg.on[kindStart] {
		m.enqueue(item{kind: kindStart, pipeline: pipeline, at: time.Now()}, false)
	}
	return nil
}

// Stop queues a "pipeline stopped" note when on lists stop, and has what is
// queued sent within a second instead of at the end of the batch window.
// It does not wait for the mail: Run's end sends what is left.
func (m *Mailer) Stop(_ context.Context, pipeline string) error {
	if m.cfg.on[kindStop] {
		m.enqueue(item{kind: kindStop, pipeline: pipeline, at: time.Now()}, true)
		return nil
	}
	m.mu.Lock()
	m.hurryLocked(time.Now())
	m.mu.Unlock()
	m.kick()
	return nil
}

func (m *Mailer) enqueue(it item, hurry bool) {
	m.mu.Lock()
	switch {
	case m.stopped:
		m.stats.Dropped++
		m.mu.Unlock()
		m.log.Warn("mail: sender stopped, not mailed", "pipeline", it.pipeline, "kind", it.kind.String(), "addr", addrText(it.d.Prefix))
		return
	case len(m.queue) >= m.queueMax:
		m.stats.Dropped++
		m.overflow++
		first := m.overflow == 1
		m.mu.Unlock()
		if first {
			m.log.Warn("mail: queue full, dropping decisions until it drains", "max", m.queueMax)
		}
		return
	}
	if len(m.queue) == 0 {
		m.firstAt = it.at
	}
	it.lines = len(it.d.Lines)
	it.d.Lines = m.keptLines(it.d.Lines, len(m.queue))
	m.queue = append(m.queue, it)
	if hurry {
		m.hurryLocked(it.at)
	}
	wake := len(m.queue) == 1 || hurry
	m.mu.Unlock()
	if wake {
		m.kick()
	}
}

func (m *Mailer) hurryLocked(now time.Time) {
	if len(m.queue) == 0 {
		return // nothing to hurry
	}
	at := now.Add(m.stopGrace)
	if m.hurryAt.IsZero() || at.Before(m.hurryAt) {
		m.hurryAt = at
	}
}

// kick wakes the sender.
func (m *Mailer) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (m *Mailer) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Queued = int64(len(m.queue) + m.inFlight)
	return s
}

func (k itemKind) String() string {
	switch k {
	case kindBan:
		return "ban"
	case kindUnban:
		return "unban"
	case kindStart:
		return "start"
	case kindStop:
		return "stop"
	}
	return "unknown"
}
