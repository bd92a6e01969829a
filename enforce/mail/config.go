package mail

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"os"
	osexec "os/exec"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest/keyerr"
)

// settings is a validated Config.
type settings struct {
	to          []*mail.Address
	from        *mail.Address
	smtp        *smtpSettings
	sendmail    []string
	whois       bool
	whoisServer string
	lines       bool
	on          map[itemKind]bool
	batch       time.Duration
	maxPerHour  int
	prefix      string
}

type smtpSettings struct {
	addr     string
	host     string
	mode     string // starttls, tls or none
	username string
	password string
	tls      *tls.Config
	timeout  time.Duration
}

// Validate checks cfg without making a mailer: the addresses parse, the
// transport is complete, the files it names (smtp.password_file, smtp.ca)
// and the sendmail program are readable. An error carries the YAML key at
// fault (keyerr); every bad key is reported (errors.Join).
func Validate(cfg Config) error {
	_, err := validate(cfg)
	return err
}

// validate checks cfg and returns its settings; every bad key is reported
// (errors.Join), not only the first.
func validate(cfg Config) (settings, error) {
	var s settings
	var errs []error
	if len(cfg.To) == 0 {
		errs = append(errs, keyerr.Wrap("to", errors.New("mail: to: no recipient")))
	}
	for i, t := range cfg.To {
		a, err := parseAddress(t)
		if err != nil {
			errs = append(errs, keyerr.Wrap("to", fmt.Errorf("mail: to[%d]: %w", i, err)))
			break
		}
		s.to = append(s.to, a)
	}
	if cfg.From == "" {
		errs = append(errs, keyerr.Wrap("from", errors.New("mail: from: no sender address")))
	} else if a, err := parseAddress(cfg.From); err != nil {
		errs = append(errs, keyerr.Wrap("from", fmt.Errorf("mail: from: %w", err)))
	} else {
		s.from = a
	}
	errs = append(errs, s.transport(cfg))

	s.whois, s.lines = cfg.Whois, cfg.Lines
	s.whoisServer = defaultWhoisServer
	if cfg.WhoisServer != "" {
		var err error
		if s.whoisServer, err = hostPort(cfg.WhoisServer, "43"); err != nil {
			errs = append(errs, keyerr.Wrap("whois_server", fmt.Errorf("mail: whois_server: %w", err)))
		}
	}

	s.on = map[itemKind]bool{}
	on := cfg.On
	if len(on) == 0 {
		on = []string{"ban"}
	}
	for i, o := range on {
		k, ok := kindNames[strings.ToLower(strings.TrimSpace(o))]
		if !ok {
			errs = append(errs, keyerr.Wrap("on", fmt.Errorf("mail: on[%d]: %q is none of ban, unban, start, stop", i, o)))
			break
		}
		s.on[k] = true
	}

	switch {
	case cfg.Batch < 0:
		errs = append(errs, keyerr.Wrap("batch", fmt.Errorf("mail: batch: negative (%s)", cfg.Batch)))
	case cfg.Batch == 0:
		s.batch = defaultBatch
	default:
		s.batch = cfg.Batch
	}
	switch {
	case cfg.MaxPerHour < -1:
		errs = append(errs, keyerr.Wrap("max_per_hour", fmt.Errorf("mail: max_per_hour: %d (use -1 for no limit)", cfg.MaxPerHour)))
	case cfg.MaxPerHour == 0:
		s.maxPerHour = defaultMaxPerHour
	default:
		s.maxPerHour = cfg.MaxPerHour
	}
	s.prefix = "[logjail]"
	if cfg.SubjectPrefix != "" {
		s.prefix = cleanHeader(cfg.SubjectPrefix, 64)
	}
	return s, errors.Join(errs...)
}

// transport checks and sets how mail is sent: smtp or sendmail.
func (s *settings) transport(cfg Config) error {
	switch {
	case cfg.SMTP.Addr != "" && len(cfg.Sendmail) > 0:
		return errors.New("mail: smtp.addr and sendmail are both set: choose one")
	case cfg.SMTP.Addr == "" && len(cfg.Sendmail) == 0:
		if cfg.SMTP != (SMTP{}) {
			return keyerr.Wrap("smtp.addr", errors.New("mail: smtp.addr: not set (the other smtp keys need it)"))
		}
		return errors.New("mail: smtp.addr or sendmail: one is needed to send mail")
	case cfg.SMTP.Addr != "":
		var err error
		s.smtp, err = validateSMTP(cfg.SMTP)
		return err
	}
	if cfg.SMTP != (SMTP{}) {
		return keyerr.Wrap("smtp", errors.New("mail: smtp: set together with sendmail: choose one"))
	}
	if cfg.Sendmail[0] == "" {
		return keyerr.Wrap("sendmail", errors.New("mail: sendmail[0]: empty program"))
	}
	if _, err := osexec.LookPath(cfg.Sendmail[0]); err != nil {
		return keyerr.Wrap("sendmail", fmt.Errorf("mail: sendmail[0]: %w", err))
	}
	s.sendmail = slices.Clone(cfg.Sendmail)
	return nil
}

// validateSMTP checks the smtp block; every bad key is reported, not only
// the first.
func validateSMTP(c SMTP) (*smtpSettings, error) {
	s := &smtpSettings{mode: strings.ToLower(c.TLS), username: c.Username, timeout: c.Timeout}
	errs := []error{s.server(c)}
	if c.Timeout < 0 {
		errs = append(errs, keyerr.Wrap("smtp.timeout", fmt.Errorf("mail: smtp.timeout: negative (%s)", c.Timeout)))
	}
	if s.timeout == 0 {
		s.timeout = 30 * time.Second
	}
	errs = append(errs, s.auth(c), s.trust(c))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// server checks smtp.addr and smtp.tls and sets the server's address and
// the TLS mode (host is left empty when smtp.addr is bad).
func (s *smtpSettings) server(c SMTP) error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		// No port: the conventional one of the TLS mode.
		host, port = strings.TrimSuffix(strings.TrimPrefix(c.Addr, "["), "]"), ""
	}
	var errs []error
	if host == "" || strings.ContainsAny(host, " \t\r\n/") {
		errs = append(errs, keyerr.Wrap("smtp.addr", fmt.Errorf("mail: smtp.addr: %q is not host:port", c.Addr)))
		host = ""
	}
	if s.mode == "" {
		s.mode = "starttls"
		if port == "465" {
			s.mode = "tls"
		}
	}
	defaults := map[string]string{"starttls": "587", "tls": "465", "none": "25"}
	if _, ok := defaults[s.mode]; !ok {
		errs = append(errs, keyerr.Wrap("smtp.tls", fmt.Errorf("mail: smtp.tls: %q is none of starttls, tls, none", c.TLS)))
	}
	if port == "" {
		port = defaults[s.mode]
	}
	if host != "" {
		s.host, s.addr = host, net.JoinHostPort(host, port)
	}
	return errors.Join(errs...)
}

// auth checks smtp.username and the password, and reads password_file.
func (s *smtpSettings) auth(c SMTP) error {
	var errs []error
	if strings.ContainsAny(c.Username, "\x00\r\n") {
		errs = append(errs, keyerr.Wrap("smtp.username", errors.New("mail: smtp.username: control characters")))
	}
	switch {
	case c.Password != "" && c.PasswordFile != "":
		return errors.Join(append(errs, errors.New("mail: smtp.password and smtp.password_file are both set: choose one"))...)
	case c.PasswordFile != "":
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return errors.Join(append(errs, keyerr.Wrap("smtp.password_file", fmt.Errorf("mail: smtp.password_file: %w", err)))...)
		}
		s.password, _, _ = strings.Cut(string(b), "\n")
		s.password = strings.TrimSuffix(s.password, "\r")
		if s.password == "" {
			return errors.Join(append(errs, keyerr.Wrap("smtp.password_file", fmt.Errorf("mail: smtp.password_file: %s: empty first line", c.PasswordFile)))...)
		}
	default:
		s.password = c.Password
	}
	switch {
	case c.Username == "" && s.password != "":
		errs = append(errs, keyerr.Wrap("smtp.username", errors.New("mail: smtp.username: not set, but a password is")))
	case c.Username != "" && s.password == "":
		errs = append(errs, errors.New("mail: smtp.password or smtp.password_file: smtp.username needs one"))
	case c.Username != "" && s.mode == "none" && s.host != "" && !loopbackHost(s.host):
		errs = append(errs, keyerr.Wrap("smtp.tls", fmt.Errorf("mail: smtp.tls: none would send smtp.password in clear text to %s; use starttls or tls (only a loopback server may get it without TLS)", s.host)))
	}
	return errors.Join(errs...)
}

// trust sets up TLS towards the server, with smtp.ca's certificates when
// it is given.
func (s *smtpSettings) trust(c SMTP) error {
	if s.mode == "none" {
		if c.CA != "" {
			return keyerr.Wrap("smtp.ca", errors.New("mail: smtp.ca: set with smtp.tls: none"))
		}
		return nil
	}
	s.tls = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	if c.CA == "" {
		return nil
	}
	pem, err := os.ReadFile(c.CA)
	if err != nil {
		return keyerr.Wrap("smtp.ca", fmt.Errorf("mail: smtp.ca: %w", err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return keyerr.Wrap("smtp.ca", fmt.Errorf("mail: smtp.ca: %s: no PEM certificate", c.CA))
	}
	s.tls.RootCAs = pool
	return nil
}

// parseAddress parses one RFC 5322 address; header injection cannot pass
// the parser, and the check for control characters makes sure of it.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("%q: control characters in an address", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	if strings.ContainsFunc(a.Address, func(r rune) bool { return r <= ' ' || r == '<' || r == '>' || r == 0x7f }) {
		return nil, fmt.Errorf("%q: unusable in an SMTP envelope", s)
	}
	return a, nil
}

// hostPort accepts "host:port" or "host" (then port def).
func hostPort(s, def string) (string, error) {
	s = strings.TrimPrefix(s, "whois://")
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), def
	}
	if host == "" || port == "" || strings.ContainsAny(host, " \t\r\n/") || strings.ContainsAny(port, " \t\r\n/") {
		return "", fmt.Errorf("%q is not host:port", s)
	}
	return net.JoinHostPort(host, port), nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// localName is this host's name for HELO and the mail text.
func localName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || len(h) > 253 {
		return "localhost"
	}
	for _, r := range h {
		if !(r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "localhost"
		}
	}
	return h
}
