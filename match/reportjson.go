package match

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// ReportWriter writes the document of `logjail test --json` while the log
// is matched: the "failures" array element by element (Failure, the
// TestOptions.Failures sink), then the report's other fields (Finish).
// Nothing it holds grows with the number of failures. Its output is what
// encoding/json prints for a Report with "failures" as its first key,
// indented by two spaces, HTML left unescaped.
type ReportWriter struct {
	w       io.Writer
	buf     []byte
	started bool // "failures" opened
	err     error
	// scratch encodes the rare string encoding/json escapes beyond '"'
	// and '\\' (control characters, U+2028, U+2029), so the escaping is
	// exactly its own.
	scratch bytes.Buffer
	enc     *json.Encoder
}

// reportFlushSize is how much ReportWriter gathers before a write.
const reportFlushSize = 64 << 10

// NewReportWriter returns a ReportWriter writing to w.
func NewReportWriter(w io.Writer) *ReportWriter {
	rw := &ReportWriter{w: w, buf: make([]byte, 0, reportFlushSize+4096)}
	rw.enc = json.NewEncoder(&rw.scratch)
	rw.enc.SetEscapeHTML(false)
	return rw
}

// Failure appends one element to the "failures" array.
func (rw *ReportWriter) Failure(f FailureRecord) error {
	if rw.err != nil {
		return rw.err
	}
	b := rw.buf
	if !rw.started {
		b = append(b, "{\n  \"failures\": [\n    {\n      \"line\": "...)
		rw.started = true
	} else {
		b = append(b, ",\n    {\n      \"line\": "...)
	}
	b = strconv.AppendInt(b, int64(f.Line), 10)
	b = append(b, ",\n      \"addr\": "...)
	b = rw.appendString(b, f.Addr)
	if f.ID != "" {
		b = append(b, ",\n      \"id\": "...)
		b = rw.appendString(b, f.ID)
	}
	b = append(b, ",\n      \"time\": \""...)
	b, err := f.Time.AppendText(b) // what Time.MarshalJSON quotes
	if err != nil {
		rw.err = err
		return err
	}
	b = append(b, '"')
	if f.User != nil {
		b = append(b, ",\n      \"user\": "...)
		b = rw.appendString(b, *f.User)
	}
	b = append(b, ",\n      \"text\": "...)
	b = rw.appendString(b, f.Text)
	b = append(b, "\n    }"...)
	rw.buf = b
	if len(b) >= reportFlushSize {
		return rw.flush()
	}
	return nil
}

// Finish closes the "failures" array and writes the report's other fields
// (rep.Failures is not written) and the closing brace.
func (rw *ReportWriter) Finish(rep Report) error {
	if rw.err != nil {
		return rw.err
	}
	if rw.started {
		rw.buf = append(rw.buf, "\n  ],"...)
	} else {
		rw.buf = append(rw.buf, "{\n  \"failures\": [],"...)
	}
	// The other fields, indented as encoding/json's Encoder would inside
	// the object, after its opening brace.
	rest, err := marshalNoHTML(reportTail{Report: rep})
	if err != nil {
		return err
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, rest, "", "  "); err != nil {
		return err
	}
	rw.buf = append(rw.buf, ind.Bytes()[1:]...)
	rw.buf = append(rw.buf, '\n')
	return rw.flush()
}

// reportTail is a Report whose failures (already written) are left out:
// its own empty field hides the Report's.
type reportTail struct {
	Report
	Failures []FailureRecord `json:"failures,omitempty"`
}

// marshalNoHTML encodes v as the command's JSON does: "<", ">" and "&"
// as they are.
func marshalNoHTML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (rw *ReportWriter) flush() error {
	if _, err := rw.w.Write(rw.buf); err != nil {
		rw.err = err
		return err
	}
	rw.buf = rw.buf[:0]
	return nil
}

// appendString appends s as a JSON string. Printable ASCII (and any
// other valid UTF-8 but U+2028 and U+2029) goes through as it is; a string
// with anything else takes encoding/json's own escaping.
func (rw *ReportWriter) appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return rw.appendSlow(b, s, i)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendSlow handles a string whose byte at i needs a closer look.
func (rw *ReportWriter) appendSlow(b []byte, s string, i int) []byte {
	simple := true
	for j := i; j < len(s) && simple; {
		c := s[j]
		switch {
		case c == '"' || c == '\\':
			j++
		case c < 0x20:
			simple = false
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRuneInString(s[j:])
			simple = r != utf8.RuneError && r != '\u2028' && r != '\u2029'
			j += size
		}
	}
	if !simple {
		rw.scratch.Reset()
		_ = rw.enc.Encode(s) // a string always encodes
		return append(b, bytes.TrimSuffix(rw.scratch.Bytes(), []byte("\n"))...)
	}
	b = append(b, '"')
	for j := 0; j < len(s); j++ {
		if c := s[j]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[j])
	}
	return append(b, '"')
}
