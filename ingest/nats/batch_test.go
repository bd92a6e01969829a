package nats

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

// A batchWant is one entry a batch must give.
type batchWant struct {
	msg   string
	time  time.Time // zero: none
	stamp bool      // the RFC 3164 stamp Dec 7 02:00:00, local time
}

func failedLine(pid, ip, port string) string {
	return "vm sshd" + pid + ": " + failed(ip, port)
}

// manyRecords is a batch of n elements, each made by rec.
func manyRecords(n int, rec func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = rec(i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// batchCase is a batch and the entries and counts it must give.
type batchCase struct {
	name, file, data string
	want             []batchWant
	fields           map[string]string // of the first entry
	skipped, errs    uint64
}

// batchCases are the batches of TestFluentBitBatches, one a row, so it is
// long: samples of testdata/envelopes and batches made here.
func batchCases() []batchCase {
	at := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC) // 1796608800
	cases := []batchCase{
		{name: "fluent bit syslog", file: "fluentbit-out-nats-batch.json", want: []batchWant{
			{msg: failedLine("[4004]", "192.0.2.40", "52040"), stamp: true}, // its own "time" (Time_Keep On) wins
			{msg: failedLine("[4004]", "192.0.2.41", "52041"), time: at.Add(1500 * time.Millisecond)},
			{msg: failedLine("[4004]", "192.0.2.42", "52042"), time: at.Add(2250 * time.Millisecond)},
		}, fields: map[string]string{"pri": "38", "tag": "syslog.0"}},
		{name: "timestamp forms", file: "fluentbit-out-nats-batch-timestamps.json", want: []batchWant{
			{msg: failedLine("[4005]", "192.0.2.43", "52043"), time: at.Add(3 * time.Second)},
			{msg: failedLine("[4005]", "192.0.2.44", "52044"), time: at.Add(4500 * time.Millisecond)},
			{msg: failedLine("[4005]", "192.0.2.45", "52045"), time: at.Add(5750 * time.Millisecond)},
			{msg: failedLine("[4005]", "192.0.2.46", "52046")}, // an object is no time: counted
		}, errs: 1},
		{name: "hostile", file: "hostile-batch.json", want: []batchWant{
			{msg: failedLine("[4006]", "192.0.2.47", "52047"), time: at.Add(6 * time.Second)},
			{msg: "vm sshd: Failed password for invalid user \uFFFD\uFFFD root from 192.0.2.48 port 52048 ssh2", time: at.Add(7 * time.Second)},
			{msg: failedLine("[4006]", "192.0.2.49", "52049")},
			{msg: failedLine("[4006]", "192.0.2.50", "52050"), time: at.Add(9 * time.Second)},
		}, skipped: 9, errs: 2},
		{name: "other shapes in a batch", data: `[[1796608800,{"time":"2026-12-07T02:00:01Z","host":"vm","message":"sshd[1]: plain"}],` +
			`[1796608800,{"MESSAGE":"journal","_HOSTNAME":"vm","SYSLOG_IDENTIFIER":"sshd","_PID":"2"}],` +
			`[1796608800,{"message":"vector","hostname":"vm","appname":"sshd","procid":3}]]`, want: []batchWant{
			{msg: "sshd[1]: plain", time: at.Add(time.Second)},
			{msg: "vm sshd[2]: journal", time: at},
			{msg: "vm sshd[3]: vector", time: at},
		}},
		{name: "empty records", data: manyRecords(2000, func(i int) string {
			if i == 5 || i == 1500 {
				return fmt.Sprintf(`[1796608800,{"ident":"sshd","pid":"%d","message":"m"}]`, i)
			}
			return `[0,{}]`
		}), want: []batchWant{{msg: "sshd[5]: m", time: at}}, skipped: 1999}, // 1500 is over the bound
		{name: "over the bound", data: manyRecords(maxBatchRecords+76, func(int) string {
			return `[1796608800,{"ident":"s","message":"m"}]`
		}), skipped: 76},
	}
	for range maxBatchRecords {
		cases[len(cases)-1].want = append(cases[len(cases)-1].want, batchWant{msg: "s: m", time: at})
	}
	return cases
}

// TestFluentBitBatches publishes batches as Fluent Bit's nats output sends
// them ([[time, {record}], ...], samples in testdata/envelopes), hostile
// ones included, on a core subject: every usable record is one entry, laid
// out as the single-record shape is, in order; every other element is
// skipped and counted alone.
func TestFluentBitBatches(t *testing.T) {
	s, out, pub := startCore(t, "logs.>", 2*maxBatchRecords)

	for _, tc := range batchCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.data)
			if tc.file != "" {
				var err error
				if data, err = os.ReadFile(filepath.Join("testdata", "envelopes", tc.file)); err != nil {
					t.Fatal(err)
				}
			}
			if len(data) > MaxPayload {
				t.Fatalf("sample of %d bytes is over MaxPayload", len(data))
			}
			before := s.Stats()
			got := publishSample(t, pub, out, tc.name, string(data))
			checkBatchEntries(t, tc.want, got)
			for k, v := range tc.fields {
				if got[0].Fields[k] != v {
					t.Errorf("field %s = %q, want %q (all: %v)", k, got[0].Fields[k], v, got[0].Fields)
				}
			}
			after := waitStats(t, s, func(st ingest.Stats) bool { return st.Read == before.Read+uint64(len(got))+1 })
			if after.Skipped-before.Skipped != tc.skipped || after.Errors-before.Errors != tc.errs || after.Dropped != 0 {
				t.Errorf("skipped +%d errors +%d dropped %d, want skipped +%d errors +%d",
					after.Skipped-before.Skipped, after.Errors-before.Errors, after.Dropped, tc.skipped, tc.errs)
			}
		})
	}
}

// checkBatchEntries compares the entries a batch gave with those it must.
func checkBatchEntries(t *testing.T, want []batchWant, got []ingest.Entry) {
	t.Helper()
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("got %.200q", e.Message)
		}
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Message != w.msg {
			t.Errorf("entry %d: %.200q\nwant      %q", i, e.Message, w.msg)
		}
		switch {
		case w.stamp:
			local := e.Time.In(time.Local)
			if local.Month() != time.December || local.Day() != 7 || local.Hour() != 2 || local.Minute() != 0 {
				t.Errorf("entry %d: time %v for the stamp Dec 7 02:00:00", i, e.Time)
			}
		case !e.Time.Equal(w.time):
			t.Errorf("entry %d: time %v, want %v", i, e.Time, w.time)
		}
	}
}

// fluentBitBatch is a batch of n sshd failures from addr, as Fluent Bit's
// nats output publishes them.
func fluentBitBatch(addr string, n int) string {
	return manyRecords(n, func(i int) string {
		return fmt.Sprintf(`[1796608800.%d,{"host":"vm","ident":"sshd","pid":"%d","message":"Failed password for root from %s port %d ssh2"}]`,
			i, 100+i, addr, 40000+i)
	})
}

// With JetStream a batch is one message of many entries: it is
// acknowledged once, when the last of its entries' Acks is called, and not
// before.
func TestJetStreamBatchAckedAfterLastEntry(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	jsPublish(t, js, "logs.sshd", fluentBitBatch("192.0.2.60", 3))
	jsPublish(t, js, "logs.sshd", "a single line")

	s := newSource(t, jsConfig(srv.ClientURL(), "d1"))
	out := make(chan ingest.Entry, 8)
	start(t, s, out)
	got := receive(t, out, 4)
	for i, e := range got[:3] {
		if want := fmt.Sprintf("vm sshd[%d]: Failed password for root from 192.0.2.60 port %d ssh2", 100+i, 40000+i); e.Message != want || e.Ack == nil {
			t.Fatalf("entry %d %q, want %q", i, e.Message, want)
		}
	}
	waitConsumer(t, js, "d1", "2 messages pending", func(i *jetstream.ConsumerInfo) bool { return i.NumAckPending == 2 })

	// The first two entries of the batch are committed (twice: harmless);
	// then the single line. Acknowledgements travel in order on one
	// connection: once the line's is seen, one of the batch's would be too.
	for _, e := range got[:2] {
		e.Ack()
		e.Ack()
	}
	got[3].Ack()
	waitConsumer(t, js, "d1", "the single line acknowledged", func(i *jetstream.ConsumerInfo) bool { return i.NumAckPending < 2 })
	if i := consumerInfo(t, js, "d1"); i.NumAckPending != 1 || i.AckFloor.Stream != 0 {
		t.Fatalf("batch acknowledged before its last entry: pending %d, ack floor %d", i.NumAckPending, i.AckFloor.Stream)
	}
	got[2].Ack()
	waitConsumer(t, js, "d1", "the batch acknowledged", func(i *jetstream.ConsumerInfo) bool {
		return i.NumAckPending == 0 && i.AckFloor.Stream == 2
	})
	if st := s.Stats(); st.Read != 4 || st.Errors != 0 || st.Skipped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The daemon commits entries in groups, and a batch's entries may fall in
// two: a crash after the first commit redelivers the batch, and only the
// records not committed yet are delivered again, whatever the split.
func TestJetStreamBatchCommittedInParts(t *testing.T) {
	for _, committed := range []int{0, 1, 2, 3} {
		t.Run(fmt.Sprintf("%d of 3 committed", committed), func(t *testing.T) {
			srv := startServer(t, 0, t.TempDir(), nil)
			_, js := jsSetup(t, srv.ClientURL())
			jsPublish(t, js, "logs.sshd", fluentBitBatch("192.0.2.61", 3))
			pos := &testkit.Positions{}

			s1 := committingSource(t, srv.ClientURL(), "dur", pos)
			out1 := make(chan ingest.Entry, 8)
			r1 := start(t, s1, out1)
			first := receive(t, out1, 3)
			for _, e := range first[:committed] {
				if e.Pos.Key == "" {
					t.Fatal("a batch entry carries no position")
				}
				pos.Commit(e.Pos.Key, e.Pos.Value) // the daemon's commit, in order; then its acks
				e.Ack()
			}
			if err := r1.stop(t); err != nil { // the crash: the rest never committed
				t.Fatal(err)
			}

			s2 := committingSource(t, srv.ClientURL(), "dur", pos)
			out2 := make(chan ingest.Entry, 8)
			start(t, s2, out2)
			again := receive(t, out2, 3-committed)
			for i, e := range again {
				if want := first[committed+i].Message; e.Message != want {
					t.Fatalf("redelivered entry %d %q, want %q", i, e.Message, want)
				}
				pos.Commit(e.Pos.Key, e.Pos.Value)
				e.Ack()
			}
			waitConsumer(t, js, "dur", "the batch acknowledged", func(i *jetstream.ConsumerInfo) bool {
				return i.NumAckPending == 0 && i.AckFloor.Stream == 1
			})
			jsPublish(t, js, "logs.sshd", "after")
			if e := receive(t, out2, 1)[0]; e.Message != "after" {
				t.Fatalf("got %q, want the new message: a committed record came again", e.Message)
			}
		})
	}
}

// Over a core subject a batch's entries are handed over one by one: when
// the queue is full, each record that does not fit is dropped and counted.
func TestCoreBatchDropsCountedPerEntry(t *testing.T) {
	s, out, pub := startCore(t, "logs.>", 1) // room for one; nobody reads
	publish(t, pub, "logs.test", fluentBitBatch("192.0.2.62", 3))
	flush(t, pub)
	st := waitStats(t, s, func(st ingest.Stats) bool { return st.Read+st.Dropped == 3 })
	if st.Read != 1 || st.Dropped != 2 || st.Skipped != 0 {
		t.Fatalf("stats %+v, want 1 read and 2 dropped", st)
	}
	if e := <-out; e.Message != "vm sshd[100]: Failed password for root from 192.0.2.62 port 40000 ssh2" {
		t.Fatalf("got %q", e.Message)
	}
}

// Run stops while handing over a batch: the entries not delivered come
// back with the message, which is returned (Nak) only once those delivered
// are committed, and never acknowledged.
func TestJetStreamBatchStoppedPartWay(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	jsPublish(t, js, "logs.sshd", fluentBitBatch("192.0.2.63", 3))

	s1 := newSource(t, jsConfig(srv.ClientURL(), "dur"))
	s1.linger = 2 * waitLimit // the connection waits for the delivered entry's Ack
	closed := make(chan struct{})
	s1.onClosed = func() { close(closed) }
	out1 := make(chan ingest.Entry) // one entry taken, the source waits on the second
	r1 := start(t, s1, out1)
	first := receive(t, out1, 1)[0]
	if err := r1.stop(t); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
		t.Fatal("the message was settled before its delivered entry was committed")
	default:
	}
	first.Ack()
	waitClosed(t, closed, "the connection closed after the last delivered entry's Ack")
	// Closing flushed what the source sent: no acknowledgement among it.
	if i := consumerInfo(t, js, "dur"); i.AckFloor.Stream != 0 {
		t.Fatalf("the batch was acknowledged with two of its records not delivered (ack floor %d)", i.AckFloor.Stream)
	}

	// Returned, it comes at once (AckWait, 30s, is longer than the wait).
	s2 := newSource(t, jsConfig(srv.ClientURL(), "dur"))
	out2 := make(chan ingest.Entry, 8)
	start(t, s2, out2)
	for i, e := range receive(t, out2, 3) {
		if want := fmt.Sprintf("vm sshd[%d]: Failed password for root from 192.0.2.63 port %d ssh2", 100+i, 40000+i); e.Message != want {
			t.Fatalf("entry %d %q, want %q", i, e.Message, want)
		}
		e.Ack()
	}
	waitConsumer(t, js, "dur", "the batch acknowledged", func(i *jetstream.ConsumerInfo) bool { return i.AckFloor.Stream == 1 })
}
