package daemon

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/logjail/logjail/state"
)

// The ban lists of `status PIPELINE` and `banned` are written as they are
// encoded, through a buffer, rather than built and marshalled whole: a
// flood's million bans are a hundred megabytes of JSON, and the first byte
// goes out before the bans are even sorted. The bytes are exactly those
// json.Encoder writes for the documents of api.go (TestBanStreamIsJSON).

// banWriter writes JSON to a response in large writes.
type banWriter struct {
	w   http.ResponseWriter
	buf []byte
	err error
}

// streamFlushAt is the buffer's size: it is written out when it is fuller.
const streamFlushAt = 64 << 10

func newBanWriter(w http.ResponseWriter) *banWriter {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return &banWriter{w: w, buf: make([]byte, 0, streamFlushAt+4096)}
}

// more writes the buffer out once it is full.
func (b *banWriter) more() {
	if len(b.buf) >= streamFlushAt {
		b.flush()
	}
}

// flush writes the buffer out and sends it to the client now.
func (b *banWriter) flush() {
	if b.err == nil && len(b.buf) > 0 {
		_, b.err = b.w.Write(b.buf)
	}
	b.buf = b.buf[:0]
	if f, ok := b.w.(http.Flusher); ok && b.err == nil {
		f.Flush()
	}
}

// bans writes ds as a JSON array's elements (see banOf; stopped: their
// pipeline is), with a comma before each when first is false; it returns
// whether it wrote none and first was true.
func (b *banWriter) bans(ds []*state.Decision, now time.Time, first, stopped bool) bool {
	for _, d := range ds {
		if !first {
			b.buf = append(b.buf, ',')
		}
		first = false
		b.buf = appendBan(b.buf, d, now, stopped)
		b.more()
	}
	return first
}

// pipelineStatus writes st (whose ban lists are empty, not null) with the active
// bans, which it sorts after the rest of the document is on its way.
func (b *banWriter) pipelineStatus(st PipelineStatus, active state.Bans, now time.Time) {
	var head bytes.Buffer
	_ = json.NewEncoder(&head).Encode(st) // plain types: cannot fail
	// Keys are written as they are and quotes inside strings escaped, so
	// this is where the empty lists are, and only there.
	const lists = `"banned":[],"bans":[]`
	doc := head.Bytes()
	at := bytes.Index(doc, []byte(lists))
	b.buf = append(b.buf, doc[:at+len(`"banned":[`)]...)
	b.flush()
	sorted := active.Sorted()
	for i, d := range sorted {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		b.buf = appendPrefix(b.buf, d.Prefix)
		b.more()
	}
	b.buf = append(b.buf, `],"bans":[`...)
	b.bans(sorted, now, true, st.State == stateStopped)
	b.buf = append(b.buf, ']')
	b.buf = append(b.buf, doc[at+len(lists):]...)
	b.flush()
}

// pipelineBans are a pipeline's active bans, and whether it is stopped.
type pipelineBans struct {
	active  state.Bans
	stopped bool
}

// banned writes the bans of every pipeline (each sorted here) as one
// JSON array (`logjail banned --json`).
func (b *banWriter) banned(all []pipelineBans, now time.Time) {
	b.buf = append(b.buf, '[')
	b.flush()
	first := true
	for _, pb := range all {
		first = b.bans(pb.active.Sorted(), now, first, pb.stopped)
	}
	b.buf = append(b.buf, "]\n"...)
	b.flush()
}

// appendBan appends banOf(d, now), with PipelineStopped set to stopped, as
// json.Marshal writes it.
func appendBan(buf []byte, d *state.Decision, now time.Time, stopped bool) []byte {
	buf = append(buf, `{"pipeline":`...)
	buf = appendString(buf, d.Pipeline)
	buf = append(buf, `,"addr":`...)
	buf = appendPrefix(buf, d.Prefix)
	buf = append(buf, `,"time":`...)
	buf = appendTime(buf, d.Time.UTC())
	remaining := int64(-1)
	if d.Permanent() {
		buf = append(buf, `,"until":null`...)
	} else {
		buf = append(buf, `,"until":`...)
		buf = appendTime(buf, d.Until.UTC())
		remaining = int64(d.Remaining(now).Round(time.Second) / time.Second)
	}
	buf = append(buf, `,"remaining_s":`...)
	buf = strconv.AppendInt(buf, remaining, 10)
	buf = append(buf, `,"failures":`...)
	buf = strconv.AppendInt(buf, int64(d.Failures), 10)
	buf = append(buf, `,"ban_count":`...)
	buf = strconv.AppendInt(buf, int64(d.BanCount), 10)
	buf = append(buf, `,"reason":`...)
	buf = appendString(buf, d.Reason)
	if d.Origin != "" {
		buf = append(buf, `,"origin":`...)
		buf = appendString(buf, d.Origin)
	}
	if stopped {
		buf = append(buf, `,"pipeline_stopped":true`...)
	}
	return append(buf, '}')
}

// appendPrefix appends prefixText's text of p as a JSON string (an
// address's text needs no escaping).
func appendPrefix(buf []byte, p netip.Prefix) []byte {
	buf = append(buf, '"')
	if p.IsSingleIP() {
		buf = p.Addr().AppendTo(buf)
	} else {
		buf = p.AppendTo(buf)
	}
	return append(buf, '"')
}

// appendTime appends t as time.Time's MarshalJSON writes it.
func appendTime(buf []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		return appendMarshalled(buf, t)
	}
	buf = append(buf, '"')
	return append(t.AppendFormat(buf, time.RFC3339Nano), '"')
}

// appendString appends s as a JSON string, as json.Marshal writes it: a
// string of printable ASCII without characters to escape is copied, any
// other goes through json.Marshal.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendMarshalled(buf, s)
		}
	}
	buf = append(buf, '"')
	return append(append(buf, s...), '"')
}

func appendMarshalled(buf []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		return append(buf, "null"...)
	}
	return append(buf, j...)
}
