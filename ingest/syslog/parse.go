package syslog

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gs "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/ciscoios"
	"github.com/leodido/go-syslog/v4/common"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/logjail/logjail/ingest"
)

// outcome says what became of one record.
type outcome int

const (
	parsed    outcome = iota // parsed as RFC 3164 or RFC 5424
	malformed                // rejected by the parsers; delivered as raw text
	empty                    // nothing but whitespace and NULs; not delivered
)

// parser turns one syslog record into an Entry. It is not safe for
// concurrent use: every reader goroutine owns one.
type parser struct {
	std   gs.Machine // auto-detecting RFC 3164 / RFC 5424
	cisco gs.Machine // RFC 3164 with the Cisco IOS prefixes
	loc   *time.Location
	local string // Host for records with neither HOSTNAME nor network peer
	buf   []byte // scratch for cleaning records
}

func newParser(loc *time.Location, local string) *parser {
	return &parser{
		std: auto.NewMachine(
			auto.WithRFC3164Options(
				rfc3164.WithRFC3339(),
				rfc3164.WithSecondFractions(),
				rfc3164.WithLenientDay(),
				rfc3164.WithOptionalPriority(),
			),
			auto.WithRFC5424Options(rfc5424.WithOptionalPriority()),
		),
		cisco: rfc3164.NewMachine(
			rfc3164.WithCiscoIOSComponents(ciscoios.All),
			rfc3164.WithLenientDay(),
		),
		loc:   loc,
		local: local,
	}
}

// entry builds the Entry for one record (a datagram or a stream frame),
// received at now from peer (invalid for unix sockets). raw is not retained.
func (p *parser) entry(raw []byte, peer netip.Addr, now time.Time) (ingest.Entry, outcome) {
	in := p.clean(raw)
	if len(in) == 0 {
		return ingest.Entry{}, empty
	}
	if e, ok := p.structured(in, peer, now); ok {
		return e, parsed
	}
	return p.raw(in, peer, now), malformed
}

// clean drops trailing line ends and NULs, removes NULs and turns embedded
// CR and LF into spaces, so that a record is always one line: text inside a
// message cannot pose as a line of its own to an anchored filter.
func (p *parser) clean(raw []byte) []byte {
	for len(raw) > 0 {
		c := raw[len(raw)-1]
		if c != '\n' && c != '\r' && c != 0 {
			break
		}
		raw = raw[:len(raw)-1]
	}
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 && bytes.IndexByte(raw, 0) < 0 {
		return raw
	}
	b := p.buf[:0]
	for _, c := range raw {
		switch c {
		case 0:
		case '\n', '\r':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	if cap(b) <= 64<<10 {
		p.buf = b
	}
	return b
}

// structured parses in with the standard machines, then the Cisco one. It
// accepts a result only when the parser reported no error and kept the
// message text whole: the library "succeeds" on some inputs while dropping
// everything after PRI, and such a result must not replace the raw text.
func (p *parser) structured(in []byte, peer netip.Addr, now time.Time) (_ ingest.Entry, ok bool) {
	defer func() {
		// A parser bug on hostile input must not take the listener down:
		// the record is delivered as raw text instead.
		if r := recover(); r != nil {
			ok = false
		}
	}()
	m, err := p.std.Parse(in)
	b, is5424, ok := usable(m, err, in)
	if !ok && in[0] == '<' {
		m, err = p.cisco.Parse(in)
		b, is5424, ok = usable(m, err, in)
	}
	if !ok {
		return ingest.Entry{}, false
	}

	e := ingest.Entry{ReadAt: now, Peer: peer, Time: now}
	if b.Timestamp != nil {
		t := *b.Timestamp
		if !is5424 && t.Year() == 0 {
			t = p.stampYear(t, now)
		}
		e.Time = t
	}
	e.Host = p.host(b.Hostname, peer)

	fields := make(map[string]string, 8)
	if is5424 {
		fields["format"] = "rfc5424"
	} else {
		fields["format"] = "rfc3164"
	}
	priFields(fields, b.Priority)
	app, pid := text(b.Appname), text(b.ProcID)
	if app != "" {
		fields["appname"] = app
	}
	if pid != "" {
		fields["procid"] = pid
	}
	if id := text(b.MsgID); id != "" {
		fields["msgid"] = id
	}
	msg := text(b.Message)
	if is5424 {
		if sm, ok := m.(*rfc5424.SyslogMessage); ok && sm.StructuredData != nil {
			for id, params := range *sm.StructuredData {
				id = valid(id)
				if len(params) == 0 {
					fields["sd."+id] = ""
				}
				for k, v := range params {
					fields["sd."+id+"."+valid(k)] = valid(v)
				}
			}
		}
	}
	e.Fields = fields
	e.Message = ingest.Layout(e.Host, app, pid, msg)
	return e, true
}

// usable reports whether a parse result can be used, and its fields.
func usable(m gs.Message, err error, in []byte) (*gs.Base, bool, bool) {
	if err != nil || m == nil || !m.Valid() {
		return nil, false, false
	}
	var b *gs.Base
	is5424 := false
	switch x := m.(type) {
	case *rfc3164.SyslogMessage:
		b = &x.Base
	case *rfc5424.SyslogMessage:
		b, is5424 = &x.Base, true
	default:
		return nil, false, false
	}
	if b.Message == nil {
		// RFC 5424 allows a record without MSG; an RFC 3164 record
		// without one is the library giving up after PRI.
		return b, is5424, is5424
	}
	msg := *b.Message
	if len(msg) > len(in) || string(in[len(in)-len(msg):]) != msg {
		return nil, false, false
	}
	return b, is5424, true
}

// raw is the best-effort entry for a record the parsers rejected: its text
// (after a valid PRI, which is kept as fields) behind the peer's address,
// dated when it was received.
func (p *parser) raw(in []byte, peer netip.Addr, now time.Time) ingest.Entry {
	fields := map[string]string{"format": "raw"}
	if pri, n := leadingPRI(in); n > 0 {
		priFields(fields, &pri)
		in = in[n:]
	}
	in = bytes.TrimLeft(in, " \t")
	host := p.host(nil, peer)
	msg := host
	if len(in) > 0 {
		msg = host + " " + valid(string(in))
	}
	return ingest.Entry{Time: now, ReadAt: now, Host: host, Peer: peer, Message: msg, Fields: fields}
}

// leadingPRI parses "<N>" at the start of in, N in 0..191 without leading
// zeros, and returns N and the length of the PRI part (0 if there is none).
func leadingPRI(in []byte) (uint8, int) {
	if len(in) < 3 || in[0] != '<' {
		return 0, 0
	}
	end := bytes.IndexByte(in[:min(len(in), 5)], '>')
	if end < 2 {
		return 0, 0
	}
	digits := in[1:end]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, 0
	}
	v, err := strconv.Atoi(string(digits))
	if err != nil || v < 0 || v > 191 {
		return 0, 0
	}
	return uint8(v), end + 1
}

func priFields(fields map[string]string, pri *uint8) {
	if pri == nil || !common.ValidPriority(*pri) {
		return
	}
	if f, ok := common.FacilityKeywords[*pri/8]; ok {
		fields["facility"] = f
	}
	if s, ok := common.SeverityLevelsShort[*pri%8]; ok {
		fields["severity"] = s
	}
}

func (p *parser) host(name *string, peer netip.Addr) string {
	if h := text(name); h != "" {
		return h
	}
	if peer.IsValid() {
		return peer.String()
	}
	return p.local
}

// text returns *s made valid UTF-8, "" for nil and for the nil value "-".
func text(s *string) string {
	if s == nil || *s == "-" {
		return ""
	}
	return valid(*s)
}

func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// stampYear places an RFC 3164 timestamp (no year, no zone) in p.loc, in
// the year ingest.StampYear chooses.
func (p *parser) stampYear(t, now time.Time) time.Time {
	return ingest.StampYear(t, now, p.loc)
}
