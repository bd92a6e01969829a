package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

var (
	testPeer = netip.MustParseAddr("192.0.2.7")
	utc3     = time.FixedZone("UTC+3", 3*3600)
)

// parseLayoutCase is a datagram and the entry the parser must make of it.
type parseLayoutCase struct {
	name, in    string
	out         outcome
	host, msg   string
	time        time.Time // zero: expect now
	fields      map[string]string
	peerInvalid bool
}

// parseLayoutCases is one row a layout a sender may use, so it is long: what
// the parser makes of a datagram received from testPeer.
var parseLayoutCases = []parseLayoutCase{{
	name: "rfc3164 sshd",
	in:   "<86>Nov 25 10:33:28 web1 sshd[32708]: Failed password for root from 198.51.100.1 port 22 ssh2",
	host: "web1", msg: "web1 sshd[32708]: Failed password for root from 198.51.100.1 port 22 ssh2",
	time:   time.Date(2026, 11, 25, 10, 33, 28, 0, utc3),
	fields: map[string]string{"format": "rfc3164", "facility": "authpriv", "severity": "info", "appname": "sshd", "procid": "32708"},
}, {
	name: "rfc3164 without pid",
	in:   "<13>Nov  5 10:33:28 web1 cron: job done",
	host: "web1", msg: "web1 cron: job done",
	time: time.Date(2026, 11, 5, 10, 33, 28, 0, utc3),
}, {
	name: "rfc3164 without hostname takes the peer",
	in:   "<13>Nov 25 10:33:28 sshd[1]: local format",
	host: "192.0.2.7", msg: "192.0.2.7 sshd[1]: local format",
	time: time.Date(2026, 11, 25, 10, 33, 28, 0, utc3),
}, {
	name: "rfc3164 without hostname and peer takes the local name",
	in:   "<13>Nov 25 10:33:28 sshd[1]: local format", peerInvalid: true,
	host: "thishost", msg: "thishost sshd[1]: local format",
	time: time.Date(2026, 11, 25, 10, 33, 28, 0, utc3),
}, {
	name: "rfc3164 with RFC 3339 time",
	in:   "<134>2026-11-25T08:33:29.5+01:00 fw01 filterlog[123]: block in",
	host: "fw01", msg: "fw01 filterlog[123]: block in",
	time: time.Date(2026, 11, 25, 7, 33, 29, 500e6, time.UTC),
}, {
	name: "rfc3164 December received in January",
	in:   "<13>Dec 31 23:59:58 h app: late",
	host: "h", msg: "h app: late",
	time: time.Date(2025, 12, 31, 23, 59, 58, 0, utc3),
}, {
	name: "rfc3164 embedded newline and NUL",
	in:   "<13>Nov 25 10:33:28 h app[2]: one\ntwo\x00 three\r\n",
	host: "h", msg: "h app[2]: one two three",
	time: time.Date(2026, 11, 25, 10, 33, 28, 0, utc3),
}, {
	name: "rfc3164 invalid UTF-8",
	in:   "<13>Nov 25 10:33:28 h app: bad \xff\xfe end",
	host: "h", msg: "h app: bad \uFFFD end",
	time: time.Date(2026, 11, 25, 10, 33, 28, 0, utc3),
}, {
	name: "rfc5424 full",
	in:   `<36>1 2026-11-25T08:33:28.902623+00:00 vm app 42 ID47 [timeQuality tzKnown="1"][x@32473 a="b"] sd msg`,
	host: "vm", msg: "vm app[42]: sd msg",
	time: time.Date(2026, 11, 25, 8, 33, 28, 902623000, time.UTC),
	fields: map[string]string{"format": "rfc5424", "facility": "auth", "severity": "warning", "appname": "app",
		"procid": "42", "msgid": "ID47", "sd.timeQuality.tzKnown": "1", "sd.x@32473.a": "b"},
}, {
	name: "rfc5424 nil values and BOM",
	in:   "<13>1 - vm sshd - - - \xef\xbb\xbfhello",
	host: "vm", msg: "vm sshd: hello",
}, {
	// rsyslog's RSYSLOG_SyslogProtocol23Format: MSG after a space.
	name: "rfc5424 from rsyslog",
	in:   "<38>1 2026-12-07T02:00:00.123456+00:00 vm sshd 4001 - -  Failed password",
	host: "vm", msg: "vm sshd[4001]: Failed password",
	time: time.Date(2026, 12, 7, 2, 0, 0, 123456000, time.UTC),
}, {
	name: "rfc5424 without anything",
	in:   "<13>1 2026-11-25T08:33:28Z - - - - -",
	host: "192.0.2.7", msg: "192.0.2.7",
	time: time.Date(2026, 11, 25, 8, 33, 28, 0, time.UTC),
}, {
	name: "cisco ios message counter",
	in:   "<189>643: Jan  8 19:46:03.295: %LINEPROTO-5-UPDOWN: Line protocol on Interface Loopback100, changed state to up",
	host: "192.0.2.7", msg: "192.0.2.7 %LINEPROTO-5-UPDOWN: Line protocol on Interface Loopback100, changed state to up",
	time: time.Date(2026, 1, 8, 19, 46, 3, 295e6, utc3),
}, {
	name: "cisco ios counter and sequence",
	in:   "<189>105: 000104: Mar 12 07:12:10: %SYS-5-CONFIG_I: Configured from console by console",
	host: "192.0.2.7", msg: "192.0.2.7 %SYS-5-CONFIG_I: Configured from console by console",
	time: time.Date(2026, 3, 12, 7, 12, 10, 0, utc3),
}, {
	name: "garbage is delivered raw",
	in:   "garbage", out: malformed,
	host: "192.0.2.7", msg: "192.0.2.7 garbage",
	fields: map[string]string{"format": "raw"},
}, {
	name: "PRI then garbage keeps the PRI as fields",
	in:   "<13>garbage without date", out: malformed,
	host: "192.0.2.7", msg: "192.0.2.7 garbage without date",
	fields: map[string]string{"format": "raw", "facility": "user", "severity": "notice"},
}, {
	name: "bad PRI",
	in:   "<999>Nov 25 10:33:28 h app: x", out: malformed,
	host: "192.0.2.7", msg: "192.0.2.7 <999>Nov 25 10:33:28 h app: x",
}, {
	name: "bad 5424 date",
	in:   "<13>1 2026-13-25T08:33:28Z host app - - - bad date", out: malformed,
	host: "192.0.2.7", msg: "192.0.2.7 1 2026-13-25T08:33:28Z host app - - - bad date",
}, {
	name: "binary",
	in:   "\x00\x01\x02\xff binary", out: malformed,
	host: "192.0.2.7", msg: "192.0.2.7 \x01\x02\uFFFD binary",
}, {
	name: "empty", in: "\r\n\x00", out: empty,
}}

func TestParseLayout(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, tc := range parseLayoutCases {
		t.Run(tc.name, func(t *testing.T) {
			p := newParser(utc3, "thishost")
			peer := testPeer
			if tc.peerInvalid {
				peer = netip.Addr{}
			}
			e, oc := p.entry([]byte(tc.in), peer, now)
			if oc != tc.out {
				t.Fatalf("outcome %d, want %d (entry %+v)", oc, tc.out, e)
			}
			if oc == empty {
				return
			}
			if e.Host != tc.host || e.Message != tc.msg {
				t.Errorf("host %q message %q\nwant host %q message %q", e.Host, e.Message, tc.host, tc.msg)
			}
			want := tc.time
			if want.IsZero() {
				want = now
			}
			if !e.Time.Equal(want) {
				t.Errorf("time %v, want %v", e.Time, want)
			}
			if !e.ReadAt.Equal(now) || e.Peer != peer {
				t.Errorf("readAt %v peer %v", e.ReadAt, e.Peer)
			}
			for k, v := range tc.fields {
				if e.Fields[k] != v {
					t.Errorf("field %s = %q, want %q (all: %v)", k, e.Fields[k], v, e.Fields)
				}
			}
		})
	}
}

func TestStampYear(t *testing.T) {
	p := newParser(time.UTC, "h")
	stamp := func(s string) time.Time {
		t.Helper()
		ts, err := time.Parse(time.Stamp, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	cases := []struct {
		stamp string
		now   time.Time
		want  time.Time
	}{
		{"Jan  1 00:00:05", time.Date(2026, 12, 31, 23, 59, 50, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 5, 0, time.UTC)},
		{"Dec 31 23:59:50", time.Date(2027, 1, 1, 0, 0, 5, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 50, 0, time.UTC)},
		{"Jun 15 12:00:00", time.Date(2026, 6, 15, 12, 0, 1, 0, time.UTC), time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)},
		{"Feb 29 12:00:00", time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)},
		{"Dec 31 12:00:00", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC)},
		{"Nov 30 12:00:00", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)},
		// No leap year among the neighbours: the receipt time.
		{"Feb 29 12:00:00", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := p.stampYear(stamp(c.stamp), c.now); !got.Equal(c.want) {
			t.Errorf("stampYear(%q, %v) = %v, want %v", c.stamp, c.now, got, c.want)
		}
	}
}

type frame struct {
	kind frameKind
	text string
}

func readFrames(t *testing.T, r io.Reader, max int) ([]frame, error) {
	t.Helper()
	fr := newFrameReader(r, 16, max) // a tiny buffer exercises the assembly paths
	var got []frame
	for {
		b, kind, err := fr.next()
		if b != nil || kind != frameOK {
			got = append(got, frame{kind, string(b)})
		}
		if err != nil {
			return got, err
		}
	}
}

func TestFrameReader(t *testing.T) {
	cases := []struct {
		name, in string
		max      int
		want     []frame
		err      error
	}{{
		name: "newline", in: "<1>a\n\n<2>b\r\n<3>unterminated", max: 100,
		want: []frame{{frameOK, "<1>a"}, {frameOK, "<2>b\r"}, {frameOK, "<3>unterminated"}}, err: io.EOF,
	}, {
		name: "NUL trailer", in: "<1>a\x00<2>b\x00", max: 100,
		want: []frame{{frameOK, "<1>a"}, {frameOK, "<2>b"}}, err: io.EOF,
	}, {
		name: "newline longer than the buffer", in: "<1>" + strings.Repeat("x", 40) + "\n<2>b\n", max: 100,
		want: []frame{{frameOK, "<1>" + strings.Repeat("x", 40)}, {frameOK, "<2>b"}}, err: io.EOF,
	}, {
		name: "newline oversize", in: "<1>" + strings.Repeat("x", 40) + "\n<2>b\n<3>" + strings.Repeat("y", 30), max: 20,
		want: []frame{{frameOversize, ""}, {frameOK, "<2>b"}, {frameOversize, ""}}, err: io.EOF,
	}, {
		name: "octet", in: "4 <1>a5 <2>bc\n3 <3>", max: 100,
		want: []frame{{frameOK, "<1>a"}, {frameOK, "<2>bc"}, {frameOK, "<3>"}}, err: io.EOF,
	}, {
		name: "octet longer than the buffer", in: "43 <1>" + strings.Repeat("x", 40) + "4 <2>b", max: 100,
		want: []frame{{frameOK, "<1>" + strings.Repeat("x", 40)}, {frameOK, "<2>b"}}, err: io.EOF,
	}, {
		name: "octet oversize is discarded exactly", in: "43 <1>" + strings.Repeat("x", 40) + "4 <2>b", max: 10,
		want: []frame{{frameOversize, ""}, {frameOK, "<2>b"}}, err: io.EOF,
	}, {
		name: "octet non-numeric length resyncs at newline", in: "1 a12a <1>x\n4 <2>b", max: 100,
		want: []frame{{frameOK, "a"}, {frameBadHeader, "12a <1>x"}, {frameOK, "<2>b"}}, err: io.EOF,
	}, {
		name: "octet too many digits", in: "1 a12345678901 x\n4 <2>b", max: 100,
		want: []frame{{frameOK, "a"}, {frameBadHeader, "12345678901 x"}, {frameOK, "<2>b"}}, err: io.EOF,
	}, {
		name: "first line starting with a digit is newline framing", in: "2026-11-25 h a: x\n4 <2>b\n", max: 100,
		want: []frame{{frameOK, "2026-11-25 h a: x"}, {frameOK, "4 <2>b"}}, err: io.EOF,
	}, {
		name: "first line just digits", in: "2026\n4 <2>b\n", max: 100,
		want: []frame{{frameOK, "2026"}, {frameOK, "4 <2>b"}}, err: io.EOF,
	}, {
		name: "octet truncated", in: "10 <1>", max: 100,
		err: io.ErrUnexpectedEOF,
	}, {
		name: "octet huge claim cut short", in: "1000000000 <1>abc", max: 100,
		want: []frame{{frameOversize, ""}}, err: io.ErrUnexpectedEOF,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, half := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tc.in)
				if half {
					r = iotest.OneByteReader(r)
				}
				got, err := readFrames(t, r, tc.max)
				if !errors.Is(err, tc.err) {
					t.Errorf("err %v, want %v", err, tc.err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("frames %+v, want %+v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("frame %d = %+v, want %+v", i, got[i], tc.want[i])
					}
				}
			}
		})
	}
}

// TestFrameReaderHugeClaim checks that a frame claiming 1 GB is discarded
// as it streams by, with memory bounded by the read buffer.
func TestFrameReaderHugeClaim(t *testing.T) {
	const claim = 1 << 30
	r := io.MultiReader(strings.NewReader("1073741824 "), io.LimitReader(zeros{}, claim), strings.NewReader("4 <2>b"))
	fr := newFrameReader(r, streamBufSize, 1024)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, kind0, err0 := fr.next()
	runtime.ReadMemStats(&after)
	if kind0 != frameOversize || err0 != nil {
		t.Fatalf("kind %d err %v", kind0, err0)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("discarding the frame allocated %d bytes", d)
	}
	b, kind, err := fr.next()
	if kind != frameOK || err != nil || !bytes.Equal(b, []byte("<2>b")) {
		t.Fatalf("next frame %q kind %d err %v", b, kind, err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// FuzzEntry checks that no input crashes the parser (RFC 3164, RFC 5424,
// Cisco IOS, raw) and that every entry, laid out again, is one line of valid
// UTF-8 without NULs: its message, host and fields alike.
func FuzzEntry(f *testing.F) {
	for _, s := range []string{
		"<13>Nov 25 10:33:28 h app[1]: x", `<36>1 2026-11-25T08:33:28Z vm app 42 ID47 [x@1 a="b"] m`,
		"<189>237: 000485: router1: *Jan 8 19:46:03.295: %SYS-5-CONFIG_I: c", "garbage", "<13>", "\x00\xff",
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"][x@1 a="\]\"\\"] \xef\xbb\xbfAn application event`,
		"<38>1 2026-12-07T02:56:07.867309+00:00 vm sshd 4001 - -  Failed password for root from 192.0.2.3 port 1234 ssh2",
		"<38>Dec  7 02:56:07 vm sshd[4001]: Failed password for root from 192.0.2.3 port 1234 ssh2\n",
		"<86>2026-11-25T10:33:28.123+01:00 web1 sshd[1]: x", "<13>1 - - - - - -", "<999>Nov 25 10:33:28 h a: b",
		"<13>Nov 25 10:33:28 h\xff\xfe app[\xc3]: m\r\ninjected line\x00",
	} {
		f.Add([]byte(s))
	}
	// What rsyslog really sent in the real-software suite.
	for _, name := range []string{"rsyslog-udp-rfc3164.txt", "rsyslog-tcp-newline-rfc3164.txt"} {
		if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "records", name)); err == nil {
			for _, l := range bytes.Split(data, []byte("\n")) {
				f.Add(l)
			}
		}
	}
	p := newParser(time.UTC, "local")
	now := time.Now()
	oneLine := func(s string) bool { return utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\r\n") }
	f.Fuzz(func(t *testing.T, in []byte) {
		e, oc := p.entry(in, testPeer, now)
		if oc == empty {
			return
		}
		if !oneLine(e.Message) || !oneLine(e.Host) || e.Host == "" || e.Time.IsZero() {
			t.Errorf("entry %+v", e)
		}
		switch e.Fields["format"] {
		case "rfc3164", "rfc5424", "raw":
		default:
			t.Errorf("format %q", e.Fields["format"])
		}
		for k, v := range e.Fields {
			if !oneLine(k) || !oneLine(v) {
				t.Errorf("field %q = %q", k, v)
			}
		}
	})
}

// FuzzFrames checks that the frame reader never returns more than max
// bytes and never fails on input other than the stream's end.
func FuzzFrames(f *testing.F) {
	for _, s := range []string{"4 <1>a5 <2>bc\n", "<1>a\n<2>b\x00", "12a x\n3 abc", "99999999999 x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := newFrameReader(bytes.NewReader(in), 16, 32)
		for range len(in) + 2 {
			b, _, err := fr.next()
			if len(b) > 32+maxLenDigits+1 {
				t.Fatalf("frame of %d bytes", len(b))
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %v", err)
				}
				return
			}
		}
		t.Fatal("frame reader does not advance")
	})
}

// FuzzFrameRoundTrip frames up to three records both ways a sender does
// (RFC 6587 octet counting, and LF trailers) and checks that the reader
// gives back exactly those records, and reports the one too long as
// oversize instead of returning a part of it.
func FuzzFrameRoundTrip(f *testing.F) {
	f.Add([]byte("<13>Nov 25 10:33:28 h app[1]: x"), []byte("<36>1 2026-11-25T08:33:28Z vm app 42 - - m"), []byte(""))
	f.Add([]byte("a b"), []byte("12 x"), []byte(strings.Repeat("y", 40)))
	f.Add([]byte("\x00\n"), []byte("\r\n"), []byte("9"))
	const max = 32
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		recs := [][]byte{a, b, c}
		// MSG-LEN has no leading zero (RFC 6587): no empty records.
		var octet bytes.Buffer
		var want [][]byte
		for _, r := range recs {
			if len(r) > 0 {
				fmt.Fprintf(&octet, "%d %s", len(r), r)
				want = append(want, r)
			}
		}
		checkFrames(t, "octet", octet.Bytes(), want, max)
		// Newline framing carries records without LF or NUL, and not
		// starting with a digit (which reads as an octet count).
		var lines bytes.Buffer
		want = want[:0]
		for _, r := range recs {
			r = bytes.TrimLeft(bytes.Map(func(c rune) rune {
				if c == '\n' || c == 0 {
					return -1
				}
				return c
			}, r), "0123456789")
			if len(r) > 0 {
				want = append(want, r)
			}
			lines.Write(r)
			lines.WriteByte('\n')
		}
		checkFrames(t, "newline", lines.Bytes(), want, max)
	})
}

// checkFrames reads stream and compares what it gives with want; records
// longer than max must come as frameOversize.
func checkFrames(t *testing.T, how string, stream []byte, want [][]byte, max int) {
	t.Helper()
	fr := newFrameReader(bytes.NewReader(stream), 16, max)
	for i, w := range want {
		b, kind, err := fr.next()
		if err != nil {
			t.Fatalf("%s %q: record %d: error %v", how, stream, i, err)
		}
		if len(w) > max {
			if kind != frameOversize {
				t.Fatalf("%s %q: record %d of %d bytes: kind %d, %q", how, stream, i, len(w), kind, b)
			}
			continue
		}
		if kind != frameOK || !bytes.Equal(b, w) {
			t.Fatalf("%s %q: record %d: got %q kind %d, want %q", how, stream, i, b, kind, w)
		}
	}
	if b, _, err := fr.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("%s %q: after the records: %q, %v", how, stream, b, err)
	}
}
