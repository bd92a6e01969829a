package match

import (
	"bufio"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
)

// Report is the result of running a filter over a log, the schema of
// `logjail test --json`.
type Report struct {
	Lines   int `json:"lines"`
	Matched int `json:"matched"`
	// NoAddress counts the matched lines whose failure id is not an
	// address (a host name, an <F-ID>): listed, never banned.
	NoAddress int `json:"no_address,omitempty"`
	Ignored   int `json:"ignored"`
	Missed    int `json:"missed"`
	// Timeouts counts matches on the backtracking engine that timed out.
	Timeouts    uint64          `json:"timeouts,omitempty"`
	LinesPerSec float64         `json:"lines_per_sec"`
	Regexes     []RegexHits     `json:"regexes"`
	Dates       map[string]int  `json:"dates"`
	Failures    []FailureRecord `json:"failures"`
	// MissedLines holds the missed lines when asked for (--print-missed).
	MissedLines []NumberedLine `json:"missed_lines,omitempty"`
}

// RegexHits counts one failregex's matches.
type RegexHits struct {
	Regex string `json:"regex"`
	Hits  uint64 `json:"hits"`
	// Engine is "re2", or "regexp2" for a pattern that needs the
	// backtracking engine (look-arounds, back-references, conditionals).
	Engine string `json:"engine"`
}

// FailureRecord is one failure found in the log.
type FailureRecord struct {
	Line int `json:"line"`
	// Addr is the address, or the failure id when it is not an address.
	Addr string `json:"addr"`
	// ID is the failure id when it differs from Addr (an <F-ID>).
	ID   string    `json:"id,omitempty"`
	Time time.Time `json:"time"`
	User string    `json:"user,omitempty"`
	Text string    `json:"text"`
}

// NumberedLine is a line of the log with its 1-based number.
type NumberedLine struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

// maxTestLine bounds one line in `logjail test`, as the file source does.
const maxTestLine = 1 << 20

// Test runs m over every line of r, dating year-less lines against now; it
// applies no window and bans nothing. Lines without a date are dated now.
func Test(m *Matcher, r io.Reader, now time.Time, keepMissed bool) (Report, error) {
	rep := Report{Dates: map[string]int{}, Failures: []FailureRecord{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxTestLine)
	start := time.Now()
	for sc.Scan() {
		rep.Lines++
		line := strings.ToValidUTF8(strings.TrimSuffix(sc.Text(), "\r"), "\uFFFD")
		e := ingest.Entry{Message: line, ReadAt: now}
		f, out := m.Match(&e, now)
		if out == BadAddress && m.Dialect() == DialectFail2ban {
			// fail2ban counts it (its id is the text it captured).
			out = NoAddress
		}
		switch out {
		case Matched, NoAddress:
			rep.Matched++
			rec := FailureRecord{Line: rep.Lines, Addr: f.Addr.String(), Time: f.Time.UTC(), User: f.User, Text: line}
			if out == NoAddress {
				rep.NoAddress++
				rec.Addr = f.ID
			} else if f.ID != "" && f.ID != rec.Addr {
				if a, err := netip.ParseAddr(f.ID); err != nil || a.Unmap() != f.Addr {
					rec.ID = f.ID
				}
			}
			rep.Failures = append(rep.Failures, rec)
		case Ignored, NoFail:
			rep.Ignored++
		default:
			rep.Missed++
			if keepMissed {
				rep.MissedLines = append(rep.MissedLines, NumberedLine{Line: rep.Lines, Text: line})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return rep, err
	}
	if el := time.Since(start).Seconds(); el > 0 {
		rep.LinesPerSec = float64(rep.Lines) / el
	}
	engines := m.Engines()
	for i, re := range m.Regexes() {
		rep.Regexes = append(rep.Regexes, RegexHits{Regex: re, Hits: m.Hits[i], Engine: engines[i]})
	}
	rep.Timeouts = m.Timeouts()
	for k, v := range m.DateHits {
		rep.Dates[k] = int(v)
	}
	return rep, nil
}
