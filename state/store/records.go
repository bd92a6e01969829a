package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/logjail/logjail/state"
)

// The stored forms of a ban, of a ban history record and of a prefix's
// remembered failure lines. They are written in a compact binary form
// whose first byte is its format version (recordV1); earlier logjails
// wrote JSON, whose first byte is '{' (or '[' for lines), and those
// records are still read, so an existing state directory
// keeps working and is rewritten record by record as bans are renewed.
// A flood writes one ban and one history record per ban decided: JSON
// cost a third of the store's commit and most of its allocations
// (BenchmarkCommitBans).

// recordV1 is the first byte of a record in the binary form.
const recordV1 = 1

var errRecord = errors.New("unknown record format")

// storedBan is a ban's on-disk form as JSON (the records of earlier
// logjails).
type storedBan struct {
	Pipeline string    `json:"pipeline"`
	Prefix   string    `json:"prefix"`
	Time     time.Time `json:"time"`
	Until    time.Time `json:"until,omitzero"`
	Failures int       `json:"failures"`
	BanCount int       `json:"ban_count"`
	Reason   string    `json:"reason"`
	Origin   string    `json:"origin,omitempty"`
}

// encodeBan is d's stored form: recordV1, the pipeline, the prefix (its
// address's bytes, 4 or 16, then its length), the time, whether it ends
// and when, failures, ban count, reason and origin. Strings are written
// with their length first, numbers as varints.
func encodeBan(d state.Decision) []byte {
	a := d.Prefix.Addr().AsSlice()
	v := make([]byte, 0, 48+len(d.Pipeline)+len(d.Reason)+len(d.Origin))
	v = append(v, recordV1)
	v = appendString(v, d.Pipeline)
	v = append(v, byte(len(a)))
	v = append(v, a...)
	v = append(v, byte(d.Prefix.Bits()))
	v = appendTime(v, d.Time)
	if d.Permanent() {
		v = append(v, 0)
	} else {
		v = appendTime(append(v, 1), d.Until)
	}
	v = binary.AppendVarint(v, int64(d.Failures))
	v = binary.AppendVarint(v, int64(d.BanCount))
	v = appendString(v, d.Reason)
	return appendString(v, d.Origin)
}

// decodeBan reads a stored ban, in either form.
func decodeBan(v []byte) (state.Decision, error) {
	if len(v) > 0 && v[0] == '{' {
		return decodeJSONBan(v)
	}
	r := reader{v: v}
	if r.byte() != recordV1 {
		return state.Decision{}, errRecord
	}
	d := state.Decision{Kind: state.Ban, Pipeline: r.string()}
	addr, ok := netip.AddrFromSlice(r.bytes(int(r.byte())))
	bits := int(r.byte())
	d.Time = r.time()
	if r.byte() != 0 {
		d.Until = r.time()
	}
	d.Failures, d.BanCount = int(r.varint()), int(r.varint())
	d.Reason, d.Origin = r.string(), r.string()
	if r.err != nil {
		return state.Decision{}, r.err
	}
	if len(r.v) > 0 {
		return state.Decision{}, fmt.Errorf("%d bytes after the record", len(r.v))
	}
	if !ok {
		return state.Decision{}, errors.New("bad address length")
	}
	if d.Prefix = netip.PrefixFrom(addr, bits); !d.Prefix.IsValid() {
		return state.Decision{}, fmt.Errorf("bad prefix %s/%d", addr, bits)
	}
	return d, nil
}

func decodeJSONBan(v []byte) (state.Decision, error) {
	var b storedBan
	if err := json.Unmarshal(v, &b); err != nil {
		return state.Decision{}, err
	}
	p, err := netip.ParsePrefix(b.Prefix)
	if err != nil {
		return state.Decision{}, err
	}
	return state.Decision{Kind: state.Ban, Pipeline: b.Pipeline, Prefix: p, Time: b.Time, Until: b.Until, Failures: b.Failures, BanCount: b.BanCount, Reason: b.Reason, Origin: b.Origin}, nil
}

// storedHistory is a ban history record (see HistoryRecord); its JSON
// tags are the form earlier logjails stored.
type storedHistory struct {
	Count    int       `json:"count"`
	Last     time.Time `json:"last"`
	BanTimeS float64   `json:"bantime_s"` // -1: permanent
}

// encodeHistory is r's stored form: recordV1, the count, the last ban's
// time and its duration in seconds (a float64's bits).
func encodeHistory(r storedHistory) []byte {
	v := make([]byte, 0, 32)
	v = append(v, recordV1)
	v = binary.AppendVarint(v, int64(r.Count))
	v = appendTime(v, r.Last)
	return binary.BigEndian.AppendUint64(v, math.Float64bits(r.BanTimeS))
}

// decodeHistory reads a stored history record, in either form.
func decodeHistory(v []byte) (storedHistory, error) {
	var h storedHistory
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &h)
		return h, err
	}
	r := reader{v: v}
	if r.byte() != recordV1 {
		return h, errRecord
	}
	h.Count = int(r.varint())
	h.Last = r.time()
	h.BanTimeS = math.Float64frombits(binary.BigEndian.Uint64(r.bytes(8)))
	if r.err == nil && len(r.v) > 0 {
		r.err = fmt.Errorf("%d bytes after the record", len(r.v))
	}
	if r.err != nil {
		return storedHistory{}, r.err
	}
	return h, nil
}

// encodeLines is a prefix's remembered lines' stored form. Without marks:
// recordV1, the number of lines, each line. With marks (one per line):
// recordV2, the number of lines, then each line followed by its mark
// (whether it is known; if so its time, its regex index as a varint and
// the regex's checksum in 4 bytes). An older logjail does not read
// recordV2 records: it starts those prefixes' lines over.
func encodeLines(lines []string, marks []state.LineMark) []byte {
	withMarks := len(marks) == len(lines) && len(lines) > 0
	n := 8
	for _, l := range lines {
		n += 4 + len(l)
	}
	version := byte(recordV1)
	if withMarks {
		version, n = recordV2, n+len(lines)*24
	}
	v := append(make([]byte, 0, n), version)
	v = binary.AppendUvarint(v, uint64(len(lines)))
	for i, l := range lines {
		v = appendString(v, l)
		if withMarks {
			v = appendMark(v, marks[i])
		}
	}
	return v
}

// recordV2 is the first byte of a lines record with marks.
const recordV2 = 2

func appendMark(v []byte, m state.LineMark) []byte {
	if !m.Known() {
		return append(v, 0)
	}
	v = appendTime(append(v, 1), m.Time)
	v = binary.AppendVarint(v, int64(m.Regex))
	return binary.BigEndian.AppendUint32(v, m.RegexSum)
}

func (r *reader) mark() state.LineMark {
	if r.byte() == 0 {
		return state.LineMark{}
	}
	m := state.LineMark{Time: r.time(), Regex: int(r.varint())}
	m.RegexSum = binary.BigEndian.Uint32(r.bytes(4))
	if r.err == nil && m.Time.IsZero() {
		r.fail(errors.New("a known mark without a time"))
	}
	return m
}

// decodeLines reads stored lines, in any form; marks is nil for the forms
// without them.
func decodeLines(v []byte) (lines []string, marks []state.LineMark, err error) {
	if len(v) > 0 && v[0] == '[' {
		err := json.Unmarshal(v, &lines)
		return lines, nil, err
	}
	r := reader{v: v}
	version := r.byte()
	if version != recordV1 && version != recordV2 {
		return nil, nil, errRecord
	}
	n := r.uvarint()
	if n > uint64(len(r.v)) { // each line takes a byte at least
		r.fail(errShort)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		lines = append(lines, r.string())
		if version == recordV2 {
			marks = append(marks, r.mark())
		}
	}
	if r.err == nil && len(r.v) > 0 {
		r.err = fmt.Errorf("%d bytes after the record", len(r.v))
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	return lines, marks, nil
}

func appendString(v []byte, s string) []byte {
	return append(binary.AppendUvarint(v, uint64(len(s))), s...)
}

// appendTime writes t as Unix seconds and nanoseconds: any time.Time,
// to the nanosecond (its zone is not kept: times are read back local).
func appendTime(v []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(v, t.Unix()), uint64(t.Nanosecond()))
}

// reader reads a binary record; the first problem sticks in err and every
// read after it returns zero values.
type reader struct {
	v   []byte
	err error
}

var errShort = errors.New("the record is cut short")

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.v) {
		r.fail(errShort)
		return make([]byte, max(n, 0))
	}
	b := r.v[:n]
	r.v = r.v[n:]
	return b
}

func (r *reader) byte() byte { return r.bytes(1)[0] }

func (r *reader) varint() int64 {
	x, n := binary.Varint(r.v)
	if r.err != nil || n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.v = r.v[n:]
	return x
}

func (r *reader) uvarint() uint64 {
	x, n := binary.Uvarint(r.v)
	if r.err != nil || n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.v = r.v[n:]
	return x
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.v)) {
		r.fail(errShort)
		return ""
	}
	return string(r.bytes(int(n)))
}

func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if r.err == nil && nsec >= uint64(time.Second) {
		r.fail(errors.New("bad time"))
	}
	if r.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec))
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}
