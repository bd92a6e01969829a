package nats

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/logjail/logjail/ingest"
)

// envelope is the structured payload form. The fields are decoded in a
// second step so that a wrongly typed "time" or "host" does not turn an
// envelope into a raw line.
type envelope struct {
	Time    json.RawMessage `json:"time"`
	Host    json.RawMessage `json:"host"`
	Message json.RawMessage `json:"message"`
}

// decode turns a message into an Entry, through the Decode hook when one
// is set.
func (s *Source) decode(header map[string][]string, data []byte, now time.Time) (ingest.Entry, Verdict) {
	if s.cfg.Decode == nil {
		if e, ok := s.entry(data, now); ok {
			return e, Deliver
		}
		return ingest.Entry{}, Bad
	}
	if len(data) > MaxPayload {
		s.skipped.Add(1)
		s.warn("oversize", "nats: payload larger than 64 KiB skipped", "size", len(data))
		return ingest.Entry{}, Bad
	}
	e, v := s.cfg.Decode(header, data, now)
	if v == Bad {
		s.skipped.Add(1)
		s.warn("decode", "nats: malformed message skipped (counted)", "size", len(data))
	}
	return e, v
}

// entry turns a payload into an Entry; ok is false when the payload is
// skipped (counted here).
func (s *Source) entry(data []byte, now time.Time) (ingest.Entry, bool) {
	if len(data) > MaxPayload {
		s.skipped.Add(1)
		s.warn("oversize", "nats: payload larger than 64 KiB skipped", "size", len(data))
		return ingest.Entry{}, false
	}
	e := ingest.Entry{ReadAt: now}
	if len(data) > 0 && data[0] == '{' {
		if msg, host, t, badTime, ok := parseEnvelope(data); ok {
			e.Message, e.Host, e.Time = msg, host, t
			if badTime {
				s.errs.Add(1)
				s.warn("time", "nats: envelope time is not RFC 3339; ignored")
			}
			return e, true
		}
	}
	e.Message = rawLine(data)
	return e, true
}

// parseEnvelope decodes data as an envelope: a JSON object with a string
// "message". badTime reports a "time" that is present but not an RFC 3339
// string; t is then zero.
func parseEnvelope(data []byte) (msg, host string, t time.Time, badTime, ok bool) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return "", "", time.Time{}, false, false
	}
	if len(env.Message) == 0 || env.Message[0] != '"' {
		return "", "", time.Time{}, false, false
	}
	if err := json.Unmarshal(env.Message, &msg); err != nil {
		return "", "", time.Time{}, false, false
	}
	if len(env.Host) > 0 && env.Host[0] == '"' {
		_ = json.Unmarshal(env.Host, &host)
	}
	if len(env.Time) > 0 && !bytes.Equal(env.Time, []byte("null")) {
		var ts string
		if env.Time[0] != '"' || json.Unmarshal(env.Time, &ts) != nil {
			return msg, host, time.Time{}, true, true
		}
		parsed, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return msg, host, time.Time{}, true, true
		}
		t = parsed
	}
	return msg, host, t, false, true
}

// rawLine makes a raw payload a Message: without its trailing newline and
// carriage return, valid UTF-8, without NULs (as the file source does).
func rawLine(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 {
		return string(b)
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}
