package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"

	sasl "github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"
)

// sendSMTP delivers msg through the SMTP server, within smtp.timeout.
func (m *Mailer) sendSMTP(ctx context.Context, msg []byte) error {
	s := m.cfg.smtp
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	// go-smtp sets its own deadlines per command; closing the connection
	// when ctx ends bounds the whole exchange, the message data included.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	err = m.smtpSession(conn, msg)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	return nil
}

func (m *Mailer) smtpSession(conn net.Conn, msg []byte) error {
	s := m.cfg.smtp
	var c *smtp.Client
	switch s.mode {
	case "tls":
		c = smtp.NewClient(tls.Client(conn, s.tls))
	case "starttls":
		var err error
		if c, err = smtp.NewClientStartTLS(conn, s.tls); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = s.timeout, s.timeout
	if err := c.Hello(m.hostname); err != nil {
		return err
	}
	if s.username != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS && !loopbackHost(s.host) {
			return errors.New("refusing to send the password without TLS")
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("server offers no AUTH, but smtp.username is set")
		}
		if err := c.Auth(sasl.NewPlainClient("", s.username, s.password)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	to := make([]string, len(m.cfg.to))
	for i, a := range m.cfg.to {
		to[i] = a.Address
	}
	if err := c.SendMail(m.cfg.from.Address, to, bytes.NewReader(msg)); err != nil {
		return err
	}
	// The server has taken the mail; a failed QUIT changes nothing.
	if err := c.Quit(); err != nil {
		m.log.Debug("mail: smtp quit", "err", err)
	}
	return nil
}

// sendmail pipes msg, with LF line ends, into the sendmail program.
func (m *Mailer) sendmail(ctx context.Context, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, sendmailTimeout)
	defer cancel()
	argv := m.cfg.sendmail
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")))
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", sendmailTimeout, err)
	}
	if text := strings.TrimSpace(cleanText(out.String(), 2000)); text != "" {
		return fmt.Errorf("sendmail %s: %w: %s", argv[0], err, text)
	}
	return fmt.Errorf("sendmail %s: %w", argv[0], err)
}

// capped keeps the first 4 KiB written to it.
type capped struct{ b bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := 4096 - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string { return c.b.String() }
