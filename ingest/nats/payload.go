package nats

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/journalfields"
)

// maxBatchRecords bounds the records read from one batch message; the
// rest are skipped and counted. Real batches fit far below it within
// MaxPayload (a syslog record is a few hundred bytes of JSON).
const maxBatchRecords = 1024

// A decoded entry of a message, with the index of its record when the
// message is a batch (0 otherwise): a JetStream position names how many
// records of the message are committed.
type decoded struct {
	ingest.Entry
	rec int
}

// decode turns a message into its entries, through the Decode hook when
// one is set. Records of a batch before from are not decoded (they were
// committed before a crash).
func (s *Source) decode(header map[string][]string, data []byte, now time.Time, from int) ([]decoded, Verdict) {
	if s.cfg.Decode == nil {
		if ds := s.entries(data, now, from); len(ds) > 0 {
			return ds, Deliver
		}
		return nil, Bad
	}
	if len(data) > MaxPayload {
		s.skipped.Add(1)
		s.warn("oversize", "nats: payload larger than 64 KiB skipped", "size", len(data))
		return nil, Bad
	}
	e, v := s.cfg.Decode(header, data, now)
	if v == Bad {
		s.skipped.Add(1)
		s.warn("decode", "nats: malformed message skipped (counted)", "size", len(data))
	}
	return []decoded{{Entry: e}}, v
}

// entries turns a payload into its entries: one, or one per usable record
// of a batch. None means skipped (counted here).
func (s *Source) entries(data []byte, now time.Time, from int) []decoded {
	if len(data) > MaxPayload {
		s.skipped.Add(1)
		s.warn("oversize", "nats: payload larger than 64 KiB skipped", "size", len(data))
		return nil
	}
	if batch, ok := splitBatch(data); ok {
		return s.batchEntries(batch, now, from)
	}
	if len(data) > 0 && data[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) == nil {
			if sh := shapeOf(obj); sh != nil {
				if e, ok := s.shaped(sh, obj, now, time.Time{}, false); ok {
					return []decoded{{Entry: e}}
				}
				return nil
			}
		}
	}
	return []decoded{{Entry: ingest.Entry{ReadAt: now, Message: rawLine(data)}}}
}

// shaped decodes an envelope of a known shape and counts its problems; ok
// is false when it is skipped. A record without a usable time of its own
// takes fallback (a batch's timestamp); fallbackBad is a batch timestamp
// that could not be read.
func (s *Source) shaped(sh *shape, obj map[string]json.RawMessage, now, fallback time.Time, fallbackBad bool) (ingest.Entry, bool) {
	e, p := sh.decode(obj, now)
	e.ReadAt = now
	if p.skip != "" {
		s.skipped.Add(1)
		s.warn("skip:"+sh.name+":"+p.skip, "nats: "+sh.name+" envelope skipped (counted): "+p.skip)
		return ingest.Entry{}, false
	}
	if e.Time.IsZero() {
		e.Time = fallback
		p.badTime = p.badTime || fallbackBad
	}
	if p.badTime {
		s.warn("time:"+sh.name, "nats: "+sh.name+" envelope time not understood; ignored (counted)")
	}
	if p.badFields > 0 {
		s.warn("fields:"+sh.name, "nats: "+sh.name+" envelope fields of unexpected type or size left out (counted)", "fields", p.badFields)
	}
	if p.badTime || p.badFields > 0 {
		s.errs.Add(1)
	}
	return e, true
}

// splitBatch recognises what Fluent Bit's own nats output publishes: a
// JSON array of [time, {record}] pairs, many records in one message. An
// array without any such pair is not a batch (it is a raw line).
func splitBatch(data []byte) ([]json.RawMessage, bool) {
	if len(data) < 4 || data[0] != '[' {
		return nil, false
	}
	var batch []json.RawMessage
	if json.Unmarshal(data, &batch) != nil {
		return nil, false
	}
	for _, rec := range batch {
		if _, _, ok := batchRecord(rec); ok {
			return batch, true
		}
	}
	return nil, false
}

// batchRecord splits one element of a batch into its timestamp and record.
func batchRecord(raw json.RawMessage) (json.RawMessage, map[string]json.RawMessage, bool) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, nil, false
	}
	var pair []json.RawMessage
	if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 || len(pair[1]) == 0 || pair[1][0] != '{' {
		return nil, nil, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(pair[1], &obj) != nil {
		return nil, nil, false
	}
	return pair[0], obj, true
}

// batchEntries decodes the records of a batch, from index from on, each as
// a single message's object would be (its shape recognised by its keys).
// Elements that are not [time, {record}] and records of no known shape
// are skipped and counted one by one; the others are delivered.
func (s *Source) batchEntries(batch []json.RawMessage, now time.Time, from int) []decoded {
	if len(batch) > maxBatchRecords {
		s.skipped.Add(uint64(len(batch) - maxBatchRecords))
		s.warn("batch:records", "nats: Fluent Bit batch with too many records; the rest skipped (counted)",
			"records", len(batch), "read", maxBatchRecords)
		batch = batch[:maxBatchRecords]
	}
	var out []decoded
	for i := max(from, 0); i < len(batch); i++ {
		ts, obj, ok := batchRecord(batch[i])
		if !ok {
			s.skipped.Add(1)
			s.warn("batch:pair", "nats: Fluent Bit batch element that is not [time, {record}] skipped (counted)")
			continue
		}
		sh := shapeOf(obj)
		if sh == nil {
			s.skipped.Add(1)
			s.warn("batch:record", "nats: Fluent Bit batch record without a string \"message\" skipped (counted)")
			continue
		}
		t, bad := batchTime(ts, 0)
		if e, ok := s.shaped(sh, obj, now, t, bad); ok {
			out = append(out, decoded{Entry: e, rec: i})
		}
	}
	return out
}

// batchTime reads a batch record's timestamp: Unix seconds as a number
// (what Fluent Bit's nats output writes), [seconds, nanoseconds], or the
// event format of newer versions, [time, {metadata}]. bad reports one that
// is present but none of these.
func batchTime(raw json.RawMessage, depth int) (time.Time, bool) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return time.Time{}, false
	}
	if raw[0] == '[' && depth == 0 {
		var parts []json.RawMessage
		if json.Unmarshal(raw, &parts) != nil || len(parts) == 0 || len(parts) > 2 {
			return time.Time{}, true
		}
		if len(parts) == 2 && len(parts[1]) > 0 && parts[1][0] != '{' {
			sec, err1 := strconv.ParseInt(string(parts[0]), 10, 64)
			nsec, err2 := strconv.ParseInt(string(parts[1]), 10, 64)
			if err1 != nil || err2 != nil || nsec < 0 || nsec > 999_999_999 || !plausibleUnix(float64(sec)) {
				return time.Time{}, true
			}
			return time.Unix(sec, nsec), false
		}
		return batchTime(parts[0], depth+1)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || !plausibleUnix(f) {
		return time.Time{}, true
	}
	sec, frac := math.Modf(f)
	// A double holds about microseconds at today's seconds.
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3), false
}

// plausibleUnix: after the epoch and before the year 10000 (NaN fails).
func plausibleUnix(sec float64) bool {
	return sec > 0 && sec < 253402300800
}

// A shape is one kind of JSON envelope, as a log shipper sends it.
type shape struct {
	name string
	// is recognises the shape by its keys (and the message's type).
	is func(obj map[string]json.RawMessage) bool
	// decode builds the entry (without ReadAt) and reports problems.
	decode func(obj map[string]json.RawMessage, now time.Time) (ingest.Entry, problems)
}

// problems are what went wrong decoding an envelope: skip (a reason) drops
// it; a bad time or wrongly typed fields are counted, the rest is used.
type problems struct {
	skip      string
	badTime   bool
	badFields int
}

// shapes are tried in order; the first that recognises an object wins. An
// object none recognises (a JSON application log line) is a raw line.
var shapes = []*shape{
	{name: "journald", is: isJournalExport, decode: decodeJournalExport},
	{name: "vector journald", is: isVectorJournald, decode: decodeVectorJournald},
	{name: "vector syslog", is: isVectorSyslog, decode: decodeVectorSyslog},
	{name: "fluent bit syslog", is: isFluentBit, decode: decodeFluentBit},
	{name: "plain", is: hasMessage, decode: decodePlain},
}

func shapeOf(obj map[string]json.RawMessage) *shape {
	for _, sh := range shapes {
		if sh.is(obj) {
			return sh
		}
	}
	return nil
}

// hasMessage: a string "message", which every lower-case shape needs; an
// object with another "message" is not an envelope (as before).
func hasMessage(obj map[string]json.RawMessage) bool {
	m := obj["message"]
	return len(m) > 0 && m[0] == '"'
}

func hasAny(obj map[string]json.RawMessage, keys ...string) bool {
	for _, k := range keys {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}

// journalctl -o json: every journal field under its own name, MESSAGE
// among them, __REALTIME_TIMESTAMP in microseconds as a decimal string.
func isJournalExport(obj map[string]json.RawMessage) bool {
	_, ok := obj["MESSAGE"]
	return ok
}

func decodeJournalExport(obj map[string]json.RawMessage, now time.Time) (ingest.Entry, problems) {
	var p problems
	var realtime time.Time
	if raw, ok := obj["__REALTIME_TIMESTAMP"]; ok {
		rt, _ := journalString(raw)
		if usec, err := strconv.ParseInt(rt, 10, 64); err == nil && usec > 0 {
			realtime = time.UnixMicro(usec)
		} else {
			p.badTime = true
		}
	}
	return journalEntry(obj, realtime, now, p)
}

// Vector's journald source sends the journal's fields with three renamed:
// MESSAGE as "message", _HOSTNAME as "host", the time as "timestamp"
// (RFC 3339). It is told from the plain envelope by the journal's own
// fields.
func isVectorJournald(obj map[string]json.RawMessage) bool {
	return hasMessage(obj) && hasAny(obj, "SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT", "_COMM", "_PID")
}

func decodeVectorJournald(obj map[string]json.RawMessage, now time.Time) (ingest.Entry, problems) {
	var p problems
	t, bad := rfc3339(obj["timestamp"])
	p.badTime = bad
	obj["MESSAGE"] = obj["message"]
	delete(obj, "message")
	if h, ok := obj["host"]; ok {
		obj["_HOSTNAME"] = h
		delete(obj, "host")
	}
	delete(obj, "timestamp")
	return journalEntry(obj, t, now, p)
}

// journalEntry converts journal fields in JSON form and builds the entry
// as the journald source does.
func journalEntry(obj map[string]json.RawMessage, realtime, now time.Time, p problems) (ingest.Entry, problems) {
	fields := make(map[string]string, len(obj))
	for k, raw := range obj {
		v, ok := journalString(raw)
		switch {
		case ok:
			fields[ingest.CleanField(k)] = v
		case k == "MESSAGE" && bytes.Equal(raw, []byte("null")):
			p.skip = "MESSAGE is null (journalctl leaves fields over 4 KiB out unless run with --all)"
			return ingest.Entry{}, p
		case k == "MESSAGE":
			p.skip = "MESSAGE is neither a string nor an array of bytes"
			return ingest.Entry{}, p
		case !bytes.Equal(raw, []byte("null")):
			// null is what journalctl writes for a field too large to
			// print: left out, as the journald source leaves large
			// fields out; anything else is not journalctl's.
			p.badFields++
		}
	}
	e, ok := journalfields.Entry(fields, realtime, now)
	if !ok {
		p.skip = "MESSAGE longer than 64 KiB"
	}
	return e, p
}

// journalString decodes one field of journalctl's JSON: a string, an array
// of byte values (data that is not UTF-8), or an array of those when the
// field occurs more than once, of which the last is kept (as the journald
// source keeps the last).
func journalString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err == nil
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil || len(items) == 0 {
			return "", false
		}
		if c := items[0][0]; c == '"' || c == '[' {
			last := items[len(items)-1]
			if last[0] == '[' || last[0] == '"' {
				return journalString(last)
			}
			return "", false
		}
		b := make([]byte, len(items))
		for i, it := range items {
			n, err := strconv.ParseUint(string(it), 10, 8)
			if err != nil {
				return "", false
			}
			b[i] = byte(n)
		}
		return string(b), true
	}
	return "", false
}

// Vector's syslog source: "timestamp" (RFC 3339), "hostname", "appname",
// "procid" (a number or a string), "message", and the rest (facility,
// severity, msgid, source_ip, ...) beside them.
func isVectorSyslog(obj map[string]json.RawMessage) bool {
	return hasMessage(obj) && hasAny(obj, "appname", "hostname", "procid")
}

func decodeVectorSyslog(obj map[string]json.RawMessage, now time.Time) (ingest.Entry, problems) {
	var p problems
	var e ingest.Entry
	e.Time, p.badTime = rfc3339(obj["timestamp"])
	host := textField(obj, "hostname", false, &p)
	if host == "" {
		host = textField(obj, "host", false, &p)
	}
	app := textField(obj, "appname", false, &p)
	pid := textField(obj, "procid", true, &p)
	e.Host = host
	e.Message = ingest.Layout(host, app, pid, stringField(obj["message"]))
	e.Fields = otherFields(obj, &p, "timestamp", "hostname", "host", "appname", "procid", "message")
	return e, p
}

// Fluent Bit's syslog parsers: "time" (RFC 3339 from syslog-rfc5424,
// "Mmm dd hh:mm:ss" from syslog-rfc3164, kept with Time_Keep On), "host",
// "ident", "pid", "message", and "pri", "msgid", "extradata", "tag" beside
// them.
func isFluentBit(obj map[string]json.RawMessage) bool {
	return hasMessage(obj) && hasAny(obj, "ident", "pid")
}

func decodeFluentBit(obj map[string]json.RawMessage, now time.Time) (ingest.Entry, problems) {
	var p problems
	var e ingest.Entry
	e.Time, p.badTime = syslogTime(obj["time"], now)
	e.Host = textField(obj, "host", false, &p)
	ident := textField(obj, "ident", false, &p)
	pid := textField(obj, "pid", true, &p)
	if pid == "-" { // RFC 5424's nil value
		pid = ""
	}
	e.Message = ingest.Layout(e.Host, ident, pid, stringField(obj["message"]))
	e.Fields = otherFields(obj, &p, "time", "host", "ident", "pid", "message")
	return e, p
}

// The plain envelope {"time", "host", "message"}: the message is already a
// line ("sshd[PID]: ..."), used as it is but cleaned like every laid-out
// record; the host becomes Entry.Host only, so that a message that names
// its host is not given a second one.
func decodePlain(obj map[string]json.RawMessage, now time.Time) (ingest.Entry, problems) {
	var p problems
	var e ingest.Entry
	e.Time, p.badTime = rfc3339(obj["time"])
	if h := obj["host"]; len(h) > 0 && h[0] == '"' {
		e.Host = ingest.Layout(stringField(h), "", "", "")
	}
	e.Message = ingest.Layout("", "", "", stringField(obj["message"]))
	return e, p
}

// stringField decodes a JSON string; "" for anything else.
func stringField(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// textField reads a header field of a shape (host, tag or pid): a string,
// or for a pid also an integer (Vector's procid); absent or null gives "". Anything else
// (or a value over journalfields.MaxField, as the journald source bounds
// fields) is counted in p and gives "", so a wrongly typed field leaves a part of
// the line out rather than putting JSON into it.
func textField(obj map[string]json.RawMessage, key string, number bool, p *problems) string {
	raw, ok := obj[key]
	if !ok || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if len(raw) <= journalfields.MaxField {
		if raw[0] == '"' {
			return stringField(raw)
		}
		if _, err := strconv.ParseUint(string(raw), 10, 64); err == nil && number {
			return string(raw)
		}
	}
	p.badFields++
	return ""
}

// otherFields keeps the fields a shape does not lay out: strings, numbers
// and booleans as text, bounded and cleaned as journal fields are. Nested
// objects and arrays are left out (Vector puts structured data there);
// they are not errors.
func otherFields(obj map[string]json.RawMessage, p *problems, laidOut ...string) map[string]string {
	fields := make(map[string]string, len(obj))
	for k, raw := range obj {
		if len(raw) == 0 || slices.Contains(laidOut, k) || len(raw) > journalfields.MaxField {
			continue
		}
		var v string
		switch raw[0] {
		case '{', '[', 'n':
			continue
		case '"':
			v = stringField(raw)
		default: // number, true, false
			v = string(raw)
		}
		fields[ingest.CleanField(k)] = ingest.CleanField(v)
	}
	if len(fields) == 0 {
		return nil
	}
	return fields
}

// rfc3339 decodes an optional RFC 3339 time; bad reports one that is
// present (not null) but not an RFC 3339 string.
func rfc3339(raw json.RawMessage) (t time.Time, bad bool) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return time.Time{}, false
	}
	if raw[0] != '"' {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, stringField(raw))
	if err != nil {
		return time.Time{}, true
	}
	return t, false
}

// syslogTime decodes Fluent Bit's "time": RFC 3339, or the RFC 3164 stamp
// "Mmm dd hh:mm:ss" (day padded with a space or not, fractions allowed),
// which has no year and no zone: it is taken in local time, in the year
// ingest.StampYear chooses.
func syslogTime(raw json.RawMessage, now time.Time) (time.Time, bool) {
	t, bad := rfc3339(raw)
	if !bad {
		return t, false
	}
	s := stringField(raw)
	if s == "" {
		return time.Time{}, true
	}
	s = strings.Join(strings.Fields(s), " ") // "Dec  7" as "Dec 7"
	for _, layout := range []string{"Jan 2 15:04:05", "Jan 2 15:04:05.999999999"} {
		if st, err := time.Parse(layout, s); err == nil {
			return ingest.StampYear(st, now, time.Local), false
		}
	}
	return time.Time{}, true
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
	return ingest.CleanField(string(b))
}
