package nats

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	natsgo "github.com/nats-io/nats.go"

	"github.com/logjail/logjail/ingest"
)

// envelopeAt is the time in the samples of testdata/envelopes.
var envelopeAt = time.Date(2026, 12, 7, 2, 0, 0, 123456000, time.UTC)

// failed is the sshd failure the samples carry.
func failed(ip, port string) string {
	return "Failed password for root from " + ip + " port " + port + " ssh2"
}

// envelopeCase is a sample envelope and the entry it must become.
type envelopeCase struct {
	file   string
	skip   bool      // counted as skipped, not delivered
	msg    string    // the laid-out line
	host   string    // Entry.Host
	time   time.Time // zero: none
	stamp  bool      // an RFC 3164 stamp: Dec 7 02:00:00 local time
	fields map[string]string
	absent []string // keys that must not be in Fields
	errs   uint64
}

// envelopeCases is one row a sample in testdata/envelopes, so it is long:
// the entry each becomes, or that it is skipped.
var envelopeCases = []envelopeCase{
	{file: "journald-export.json", msg: "vm sshd[4001]: " + failed("192.0.2.10", "52000"), host: "vm",
		time:   envelopeAt.Add(-100 * time.Microsecond), // _SOURCE_REALTIME_TIMESTAMP wins
		fields: map[string]string{"_SYSTEMD_UNIT": "ssh.service", "_COMM": "sshd", "__REALTIME_TIMESTAMP": "1796608800123456"},
		absent: []string{"MESSAGE"}},
	{file: "journald-binary-message.json", msg: "vm sshd[4002]: Failed password for invalid user \uFFFD from 192.0.2.11 port 52001 ssh2", host: "vm",
		time: envelopeAt, fields: map[string]string{"_SYSTEMD_UNIT": "ssh.service", "TAG": "second"}},
	{file: "journald-no-pid.json", msg: "vm sshd: " + failed("192.0.2.17", "52007"), host: "vm", time: envelopeAt},
	{file: "vector-journald.json", msg: "vm sshd[4007]: " + failed("192.0.2.14", "52004"), host: "vm", time: envelopeAt,
		fields: map[string]string{"_SYSTEMD_UNIT": "ssh.service", "source_type": "journald"}, absent: []string{"message", "MESSAGE", "host", "timestamp"}},
	{file: "vector-syslog.json", msg: "vm sshd[4003]: " + failed("192.0.2.12", "52002"), host: "vm", time: envelopeAt,
		fields: map[string]string{"facility": "auth", "severity": "info", "version": "1", "source_ip": "192.0.2.200"},
		absent: []string{"message", "appname", "procid", "timeQuality"}},
	{file: "fluentbit-rfc3164.json", msg: "vm sshd[4004]: " + failed("192.0.2.13", "52003"), host: "vm", stamp: true,
		fields: map[string]string{"pri": "38", "tag": "syslog.0"}, absent: []string{"message", "ident", "pid", "time"}},
	{file: "fluentbit-rfc5424.json", msg: "vm sshd[4005]: " + failed("192.0.2.15", "52005"), host: "vm", time: envelopeAt,
		fields: map[string]string{"msgid": "-", "extradata": "-"}},
	{file: "plain.json", msg: "sshd[4006]: " + failed("192.0.2.16", "52006"), host: "vm", time: envelopeAt},
	{file: "hostile-wrong-types.json", msg: failed("192.0.2.18", "52008"), errs: 1},
	{file: "hostile-journald-wrong-types.json", msg: "vm sshd: " + failed("192.0.2.19", "52009"), host: "vm", errs: 1,
		absent: []string{"_PID", "_SYSTEMD_UNIT"}},
	{file: "hostile-journald-null-message.json", skip: true},
	{file: "hostile-journald-message-object.json", skip: true},
	{file: "hostile-huge-field.json", msg: "sshd[4011]: " + failed("192.0.2.21", "52011"), stamp: true, errs: 1,
		fields: map[string]string{"pri": "38"}, absent: []string{"extradata", "host"}},
	{file: "hostile-nested.json", msg: "vm sshd[4012]: " + failed("192.0.2.22", "52012"), host: "vm",
		absent: []string{"deep", "sd"}},
	{file: "hostile-non-utf8.json", msg: "vm sshd[4013]: Failed password for invalid user \uFFFD\uFFFDx root from 192.0.2.23 port 52013 ssh2", host: "vm"},
}

// TestEnvelopeShapes publishes the envelopes real shippers send (samples in
// testdata/envelopes) through a real server and checks the laid-out line,
// host, time, fields and counters of each, hostile ones included. Batches
// of records are TestFluentBitBatches'.
func TestEnvelopeShapes(t *testing.T) {
	s, out, pub := startCore(t, "logs.>", 16)

	for _, tc := range envelopeCases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "envelopes", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			before := s.Stats()
			got := publishSample(t, pub, out, tc.file, string(data))
			after := s.Stats()
			if tc.skip {
				if len(got) != 0 || after.Skipped != before.Skipped+1 {
					t.Fatalf("delivered %d entries, skipped +%d; want it skipped and counted", len(got), after.Skipped-before.Skipped)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d entries", len(got))
			}
			checkEnvelopeEntry(t, tc, got[0])
			if after.Errors-before.Errors != tc.errs || after.Skipped != before.Skipped {
				t.Errorf("errors +%d skipped +%d, want errors +%d", after.Errors-before.Errors, after.Skipped-before.Skipped, tc.errs)
			}
		})
	}
}

// publishSample publishes a sample and then a raw line: once that
// arrives, the sample has been delivered or counted. It returns the
// entries before the raw line.
func publishSample(t *testing.T, pub *natsgo.Conn, out <-chan ingest.Entry, name, data string) []ingest.Entry {
	t.Helper()
	publish(t, pub, "logs.test", data)
	publish(t, pub, "logs.test", "end of "+name)
	flush(t, pub)
	var got []ingest.Entry
	for {
		e := receive(t, out, 1)[0]
		if e.Message == "end of "+name {
			return got
		}
		got = append(got, e)
	}
}

// checkEnvelopeEntry compares the entry a sample became with the row.
func checkEnvelopeEntry(t *testing.T, tc envelopeCase, e ingest.Entry) {
	t.Helper()
	if e.Message != tc.msg || e.Host != tc.host {
		t.Errorf("message %q host %q\nwant    %q host %q", e.Message, e.Host, tc.msg, tc.host)
	}
	switch {
	case tc.stamp:
		local := e.Time.In(time.Local)
		if local.Month() != time.December || local.Day() != 7 || local.Hour() != 2 || local.Minute() != 0 ||
			e.Time.After(e.ReadAt.Add(7*24*time.Hour)) || e.Time.Before(e.ReadAt.AddDate(-1, 0, -7)) {
			t.Errorf("time %v for the stamp Dec 7 02:00:00 read at %v", e.Time, e.ReadAt)
		}
	case !e.Time.Equal(tc.time):
		t.Errorf("time %v, want %v", e.Time, tc.time)
	}
	for k, v := range tc.fields {
		if e.Fields[k] != v {
			t.Errorf("field %s = %q, want %q (all: %v)", k, e.Fields[k], v, e.Fields)
		}
	}
	for _, k := range tc.absent {
		if _, ok := e.Fields[k]; ok {
			t.Errorf("field %s kept: %q", k, e.Fields[k])
		}
	}
	for k, v := range e.Fields {
		if len(v) > 4<<10 || strings.ContainsRune(v, 0) {
			t.Errorf("field %s unbounded or with a NUL (%d bytes)", k, len(v))
		}
	}
}

// BenchmarkEnvelope measures decoding and laying out one payload of each
// shape (all three records of the batch), without the network.
func BenchmarkEnvelope(b *testing.B) {
	s := newSource(b, Config{URL: "nats://127.0.0.1:4222", Subject: "x"})
	for _, name := range []string{"plain", "journald-export", "vector-syslog", "fluentbit-rfc3164", "fluentbit-out-nats-batch"} {
		data, err := os.ReadFile(filepath.Join("testdata", "envelopes", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			now := time.Now()
			for b.Loop() {
				s.entries(data, now, 0)
			}
		})
	}
}

// FuzzPayload checks that no payload crashes the decoder and that every
// delivered entry's text (each record's, for a batch) is valid UTF-8
// without NULs, its host one line, its fields bounded.
func FuzzPayload(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "envelopes", "*.json"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil && len(data) < 4096 {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"MESSAGE":[1,[2]],"_PID":{"a":[]}}`))
	// Its warnings must not go to f.Log from inside the target.
	s, err := New(Config{URL: "nats://127.0.0.1:4222", Subject: "x"}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	f.Add([]byte(`[[1,{"ident":"a","message":"b"}],[[[1]],{"pid":[1],"message":"\u0000"}],[1e999,{"MESSAGE":[300]}],[-1,{}],5]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds := s.entries(data, now, 0)
		if len(ds) > maxBatchRecords {
			t.Errorf("%d entries from one payload", len(ds))
		}
		for _, d := range ds {
			e := d.Entry
			if !utf8.ValidString(e.Message) || strings.ContainsRune(e.Message, 0) || !utf8.ValidString(e.Host) || strings.ContainsAny(e.Host, "\x00\r\n") {
				t.Errorf("entry %+v", e)
			}
			for k, v := range e.Fields {
				if len(v) > 4<<10 || !utf8.ValidString(k) || !utf8.ValidString(v) {
					t.Errorf("field %q = %q", k, v)
				}
			}
		}
	})
}
