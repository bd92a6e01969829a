package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/logjail/logjail/state"
)

// Bounds of one mail, so that a burst makes a mail of a sane size.
const (
	maxDetailed  = 100  // items written out in full; the rest get a line each
	maxWhois     = 20   // whois lookups
	maxLines     = 50   // log lines of one decision (the last ones)
	maxLineBytes = 1000 // bytes of one log line
	maxNameRunes = 64   // a pipeline name in the subject
)

// compose builds the mail reporting items and back.
func (m *Mailer) compose(ctx context.Context, items []item, back *backlog, whois bool) *outgoing {
	subject := m.subject(items, back)
	body := m.body(ctx, items, back, whois)
	return &outgoing{
		msg:     m.message(subject, body),
		subject: subject,
		own:     len(items),
		items:   len(items) + back.suppressed,
		next:    time.Now(),
	}
}

// tally counts items per kind, with the held-back ones, and lists the
// pipelines in order of appearance.
func tally(items []item, back *backlog) (counts [numKinds]int, pipelines []string) {
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			pipelines = append(pipelines, p)
		}
	}
	for _, it := range items {
		counts[it.kind]++
		add(it.pipeline)
	}
	for _, p := range back.order {
		for k, n := range back.counts[p] {
			counts[k] += n
		}
		add(p)
	}
	return counts, pipelines
}

// subject is "[logjail] sshd: banned 203.0.113.7" for one decision,
// "[logjail] sshd: 12 bans, 1 unban" for several.
func (m *Mailer) subject(items []item, back *backlog) string {
	s := m.cfg.prefix + " " + summaryLine(items, back)
	return cleanHeader(s, 300)
}

func summaryLine(items []item, back *backlog) string {
	if len(items) == 1 && back.suppressed == 0 {
		it := items[0]
		name := cleanHeader(it.pipeline, maxNameRunes)
		switch it.kind {
		case kindBan:
			return name + ": banned " + addrText(it.d.Prefix)
		case kindUnban:
			return name + ": unbanned " + addrText(it.d.Prefix)
		case kindStart:
			return name + ": started"
		case kindStop:
			return name + ": stopped"
		}
	}
	counts, pipelines := tally(items, back)
	var who string
	switch {
	case len(pipelines) == 0:
		who = "logjail"
	case len(pipelines) <= 3:
		names := make([]string, len(pipelines))
		for i, p := range pipelines {
			names[i] = cleanHeader(p, maxNameRunes)
		}
		who = strings.Join(names, ", ")
	default:
		who = fmt.Sprintf("%d pipelines", len(pipelines))
	}
	var parts []string
	count := func(n int, one, many string) {
		if n == 1 {
			parts = append(parts, "1 "+one)
		} else if n > 1 {
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	count(counts[kindBan], "ban", "bans")
	count(counts[kindUnban], "unban", "unbans")
	for _, k := range []itemKind{kindStart, kindStop} {
		word := map[itemKind]string{kindStart: "started", kindStop: "stopped"}[k]
		switch n := counts[k]; {
		case n == 0:
		case len(pipelines) == 1:
			parts = append(parts, word)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, word))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "report")
	}
	return who + ": " + strings.Join(parts, ", ")
}

// body is the mail's text, LF-separated lines.
func (m *Mailer) body(ctx context.Context, items []item, back *backlog, whois bool) string {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	line("logjail on %s: %s.", m.hostname, summaryLine(items, back))
	if len(items) > 0 {
		first, last := items[0].at, items[len(items)-1].at
		if stamp(first) == stamp(last) {
			line("Reported at %s.", stamp(first))
		} else {
			line("Reported between %s and %s.", stamp(first), stamp(last))
		}
	}

	if back.suppressed > 0 {
		line("")
		line("The mail limit (max_per_hour: %d) held back %d %s; they are listed here without details:",
			m.cfg.maxPerHour, back.suppressed, plural(back.suppressed, "item", "items"))
		for _, p := range back.order {
			c := back.counts[p]
			line("  %s: %d bans, %d unbans, %d starts, %d stops", cleanText(p, 200), c[kindBan], c[kindUnban], c[kindStart], c[kindStop])
		}
		for _, l := range back.lines {
			line("  %s", l)
		}
		if back.more > 0 {
			line("  ... and %d more.", back.more)
		}
	}
	if back.overflow > 0 {
		line("")
		line("%d %s could not be mailed: the mail queue was full.", back.overflow, plural(back.overflow, "item", "items"))
	}
	if back.lost > 0 {
		line("")
		line("%d %s could not be mailed: an earlier mail failed for good (%s).", back.lost, plural(back.lost, "item", "items"), cleanText(back.lostErr, 500))
	}

	// Whois of the banned addresses written out in full, the first
	// maxWhois of them.
	var results map[netip.Addr]whoisResult
	if whois {
		var addrs []netip.Addr
		seen := map[netip.Addr]bool{}
		for i, it := range items {
			if i >= maxDetailed || len(addrs) >= maxWhois {
				break
			}
			if a := it.d.Prefix.Addr(); it.kind == kindBan && a.IsValid() && !seen[a] {
				seen[a] = true
				addrs = append(addrs, a)
			}
		}
		results = m.lookupAll(ctx, addrs)
	}

	for i, it := range items {
		if i == maxDetailed {
			line("")
			line("--- %d more, without details ---", len(items)-maxDetailed)
		}
		if i >= maxDetailed {
			line("  %s", compactLine(it))
			continue
		}
		line("")
		m.detail(&b, i+1, it, results, whois)
	}
	return b.String()
}

// detail writes one item out in full.
func (m *Mailer) detail(b *strings.Builder, n int, it item, results map[netip.Addr]whoisResult, whois bool) {
	line := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }
	name := cleanText(it.pipeline, 200)
	d := it.d
	switch it.kind {
	case kindStart, kindStop:
		line("--- %d. %s %s at %s ---", n, name, map[itemKind]string{kindStart: "started", kindStop: "stopped"}[it.kind], stamp(it.at))
		return
	case kindBan:
		line("--- %d. Ban of %s in %s ---", n, addrText(d.Prefix), name)
	case kindUnban:
		line("--- %d. Unban of %s in %s ---", n, addrText(d.Prefix), name)
	}
	line("Address:   %s", addrText(d.Prefix))
	line("Pipeline:  %s", name)
	line("Decided:   %s", stamp(d.Time))
	if it.kind == kindBan {
		line("Failures:  %d", d.Failures)
		line("Ban count: %d", d.BanCount)
		line("Until:     %s", untilText(d))
	}
	line("Reason:    %s", cleanText(d.Reason, 500))

	if m.cfg.lines && (it.kind == kindBan || len(d.Lines) > 0) {
		line("")
		switch {
		case len(d.Lines) == 0:
			line("Log lines: none recorded.")
		case it.lines > len(d.Lines):
			line("Log lines (the last %d of %d):", len(d.Lines), it.lines)
		default:
			line("Log lines (%d):", len(d.Lines))
		}
		for _, l := range d.Lines {
			line("  %s", cleanText(l, maxLineBytes))
		}
	}

	if whois && it.kind == kindBan {
		line("")
		r, ok := results[d.Prefix.Addr()]
		switch {
		case !ok:
			line("Whois: not looked up (at most %d lookups per mail).", maxWhois)
		case r.err != nil:
			line("Whois: lookup at %s failed: %s", cleanText(r.server, 200), cleanText(r.err.Error(), 500))
		default:
			src := cleanText(r.server, 200)
			if r.via != "" {
				src += ", referred by " + cleanText(r.via, 200)
			}
			line("Whois (%s):", src)
			if r.note != "" {
				line("  [%s]", cleanText(r.note, 500))
			}
			text := strings.TrimRight(strings.ReplaceAll(r.text, "\r\n", "\n"), "\n \t")
			for _, l := range strings.Split(text, "\n") {
				line("  %s", cleanText(l, whoisCap))
			}
			if r.truncated {
				line("  [answer cut at %d KiB]", whoisCap>>10)
			}
		}
	} else if m.cfg.whois && !whois && it.kind == kindBan {
		line("")
		line("Whois: skipped, logjail was stopping.")
	}
}

// compactLine is one line about an item.
func compactLine(it item) string {
	name := cleanText(it.pipeline, 200)
	d := it.d
	switch it.kind {
	case kindBan:
		return fmt.Sprintf("ban    %s  %s  until %s  failures %d", addrText(d.Prefix), name, untilText(d), d.Failures)
	case kindUnban:
		return fmt.Sprintf("unban  %s  %s  %s", addrText(d.Prefix), name, cleanText(d.Reason, 200))
	case kindStart:
		return fmt.Sprintf("start  %s  at %s", name, stamp(it.at))
	case kindStop:
		return fmt.Sprintf("stop   %s  at %s", name, stamp(it.at))
	}
	return ""
}

// addrText is the address of a single-address prefix, else the prefix.
func addrText(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return "(no address)"
	case p.IsSingleIP():
		return p.Addr().String()
	}
	return p.String()
}

func untilText(d state.Decision) string {
	if d.Permanent() {
		return "permanent"
	}
	s := stamp(d.Until)
	if !d.Time.IsZero() && d.Until.After(d.Time) {
		s += fmt.Sprintf(" (for %s)", d.Until.Sub(d.Time).Round(time.Second))
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format(time.RFC3339)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// cleanText makes untrusted text (a log line, a whois answer, a pipeline
// name) safe on one line of the mail: at most max bytes, invalid UTF-8
// replaced, control characters (CR and LF among them), Unicode line
// separators and bidirectional overrides written as \xNN or \uNNNN escapes.
func cleanText(s string, max int) string {
	cut := false
	if len(s) > max {
		s, cut = s[:max], true
		// Drop a rune split by the cut rather than mark it invalid.
		for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
			r, size := utf8.DecodeLastRuneInString(s)
			if r != utf8.RuneError || size != 1 {
				break
			}
			s = s[:len(s)-1]
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\t':
			b.WriteByte('\t')
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, // C1 controls (NEL among them)
			r == 0x2028, r == 0x2029, // line and paragraph separators
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, // bidi embeddings, overrides, isolates
			r == 0x200e, r == 0x200f, r == 0x061c, r == 0xfeff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	if cut {
		b.WriteString("…[cut]")
	}
	return b.String()
}

// cleanHeader is cleanText for a header: no tab either, at most max runes.
func cleanHeader(s string, max int) string {
	s = strings.ReplaceAll(cleanText(s, 4*max), "\t", " ")
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "…"
	}
	return s
}

// message is the RFC 5322 message: headers, then the body in
// quoted-printable, CRLF line ends.
func (m *Mailer) message(subject, body string) []byte {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", m.cfg.from.String())
	to := make([]string, len(m.cfg.to))
	for i, a := range m.cfg.to {
		to[i] = a.String()
	}
	header("To", strings.Join(to, ",\r\n "))
	// subject was cleaned: it has no control characters; encoding it
	// leaves no raw non-ASCII byte in the header.
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", m.messageID())
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	b.Write(qpEncode(body))
	return b.Bytes()
}

func (m *Mailer) messageID() string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	domain := m.hostname
	if _, d, ok := strings.Cut(m.cfg.from.Address, "@"); ok && d != "" && !strings.ContainsFunc(d, func(r rune) bool {
		return !(r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		domain = d
	}
	return "<" + time.Now().UTC().Format("20060102150405") + "." + hex.EncodeToString(r[:]) + "@" + domain + ">"
}

// qpEncode encodes LF-separated text as quoted-printable (RFC 2045) with
// CRLF line ends and lines of 76 characters at most. A line never starts
// with "." (SMTP's and sendmail's end of data) nor "From " (mbox).
func qpEncode(text string) []byte {
	const hexdig = "0123456789ABCDEF"
	var out bytes.Buffer
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		col := 0
		for j := 0; j < len(l); j++ {
			c := l[j]
			literal := c >= ' ' && c <= '~' && c != '=' || c == '\t'
			if (c == ' ' || c == '\t') && j == len(l)-1 {
				literal = false // trailing white space would be lost
			}
			n := 1
			if !literal {
				n = 3
			}
			if col+n > 75 {
				out.WriteString("=\r\n")
				col = 0
			}
			if col == 0 && (c == '.' || c == 'F' && strings.HasPrefix(l[j:], "From ")) {
				literal, n = false, 3
			}
			if literal {
				out.WriteByte(c)
			} else {
				out.Write([]byte{'=', hexdig[c>>4], hexdig[c&15]})
			}
			col += n
		}
		out.WriteString("\r\n")
	}
	return out.Bytes()
}
