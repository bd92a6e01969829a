package mail

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// whoisCap bounds the answer kept for one address.
const whoisCap = 16 << 10

// whoisResult is what the mail says about one address.
type whoisResult struct {
	server    string // the server that answered
	via       string // the server that referred to it, if any
	text      string
	truncated bool
	note      string // a referral that failed
	err       error
}

// whois looks addr up at the configured server, following one referral
// (a "refer:" line, as whois.iana.org answers) to the registry that holds
// the address. A failure is reported in the result, never fatal.
func (m *Mailer) whois(ctx context.Context, addr netip.Addr) whoisResult {
	ctx, cancel := context.WithTimeout(ctx, m.whoisTimeout)
	defer cancel()
	q := addr.String()
	server := m.cfg.whoisServer
	text, trunc, err := whoisQuery(ctx, server, q)
	if err != nil {
		return whoisResult{server: server, err: err}
	}
	ref := referral(text)
	if ref == "" || ref == server {
		return whoisResult{server: server, text: text, truncated: trunc}
	}
	text2, trunc2, err := whoisQuery(ctx, ref, q)
	if err != nil {
		return whoisResult{server: server, text: text, truncated: trunc, note: fmt.Sprintf("referral to %s failed: %v", ref, err)}
	}
	return whoisResult{server: ref, via: server, text: text2, truncated: trunc2}
}

// whoisQuery sends one RFC 3912 query and reads the answer, whoisCap bytes
// at most.
func whoisQuery(ctx context.Context, server, query string) (text string, truncated bool, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", server)
	if err != nil {
		return "", false, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := io.WriteString(conn, query+"\r\n"); err != nil {
		return "", false, err
	}
	b, err := io.ReadAll(io.LimitReader(conn, whoisCap+1))
	if len(b) > whoisCap {
		b, truncated = b[:whoisCap], true
	}
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if len(b) == 0 {
			return "", false, err
		}
		// Keep what came; say it is incomplete.
		truncated = true
	}
	if len(b) == 0 {
		return "", false, fmt.Errorf("%s: empty answer", server)
	}
	return string(b), truncated, nil
}

// referral finds a "refer: host[:port]" line; "" when there is none or it
// is not a plausible host.
func referral(text string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "refer") {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || strings.ContainsFunc(v, func(r rune) bool {
			return !(r == '.' || r == '-' || r == ':' || r == '[' || r == ']' || r == '/' ||
				r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) {
			return ""
		}
		hp, err := hostPort(v, "43")
		if err != nil {
			return ""
		}
		return hp
	}
	return ""
}

// lookupAll looks up addrs, a few at a time.
func (m *Mailer) lookupAll(ctx context.Context, addrs []netip.Addr) map[netip.Addr]whoisResult {
	out := make(map[netip.Addr]whoisResult, len(addrs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, a := range addrs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := m.whois(ctx, a)
			mu.Lock()
			out[a] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
