package nats

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
)

// BenchmarkCore measures messages per second delivered through a core
// subscription, from a publisher through an in-process server and the
// source to a reader of the source's queue (4096 entries, the daemon's
// queue size).
//
// paced: the publisher sends in windows of 1024 and waits for each to be
// delivered, so the queue never overflows: the lossless throughput.
// burst: the publisher sends everything at once; core NATS has no flow
// control, so what the reader cannot take in time is dropped (dropped/op).
func BenchmarkCore(b *testing.B) {
	b.Run("paced", func(b *testing.B) { benchCore(b, 1024) })
	b.Run("burst", func(b *testing.B) { benchCore(b, 0) })
}

func benchCore(b *testing.B, window int) {
	srv := startServer(b, 0, "", nil)
	s := newSource(b, Config{URL: srv.ClientURL(), Subject: "logs.sshd"})
	ready := subscribed(s)
	out := make(chan ingest.Entry, 4096)
	r := start(b, s, out)
	waitClosed(b, ready, "subscription")
	pub := publisher(b, srv.ClientURL())

	msg := []byte("Nov 25 07:13:18 host sshd[1234]: Failed password for invalid user admin from 203.0.113.7 port 53211 ssh2")
	done := make(chan struct{})
	var taken atomic.Uint64
	go func() {
		for range out {
			taken.Add(1)
		}
		close(done)
	}()
	// settled waits until the reader took (or the source dropped) n.
	settled := func(n uint64) {
		deadline := time.Now().Add(waitLimit)
		for {
			st := s.Stats()
			if taken.Load()+st.Dropped >= n {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("stats %+v after %d published", st, n)
			}
			runtime.Gosched()
		}
	}

	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	begin := time.Now()
	sent := uint64(0)
	for range b.N {
		if err := pub.Publish("logs.sshd", msg); err != nil {
			b.Fatal(err)
		}
		sent++
		if window > 0 && sent%uint64(window) == 0 {
			if err := pub.Flush(); err != nil {
				b.Fatal(err)
			}
			settled(sent)
		}
	}
	flush(b, pub)
	settled(sent)
	elapsed := time.Since(begin)
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.Read)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
	if err := r.stop(b); err != nil {
		b.Fatal(err)
	}
	close(out) // Run has returned: nothing sends any more
	<-done
}

// BenchmarkJetStream measures entries per second consumed from a stream
// and acknowledged (as the daemon does, in batches), with an in-process
// server storing to disk. Publishing happens before the timer starts.
func BenchmarkJetStream(b *testing.B) {
	srv := startServer(b, 0, b.TempDir(), nil)
	_, js := jsSetup(b, srv.ClientURL())
	msg := []byte("Nov 25 07:13:18 host sshd[1234]: Failed password for invalid user admin from 203.0.113.7 port 53211 ssh2")
	for i := range b.N {
		if _, err := js.PublishAsync("logs.sshd", msg); err != nil {
			b.Fatal(err)
		}
		if i%4096 == 4095 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()

	s := newSource(b, jsConfig(srv.ClientURL(), "bench"))
	out := make(chan ingest.Entry, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	begin := time.Now()
	r := start(b, s, out)
	acks := make([]func(), 0, 1024)
	for range b.N {
		e := <-out
		acks = append(acks, e.Ack)
		if len(acks) == cap(acks) {
			for _, a := range acks {
				a()
			}
			acks = acks[:0]
		}
	}
	for _, a := range acks {
		a()
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if err := r.stop(b); err != nil {
		b.Fatal(err)
	}
}
