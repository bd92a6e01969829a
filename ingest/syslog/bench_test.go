package syslog

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
)

// Benchmarks measure messages parsed and delivered per second over
// loopback, sender and consumer included:
//
//	go test -run '^$' -bench . -benchtime 200000x ./ingest/syslog/

var benchMessages = []struct{ name, msg string }{
	{"rfc3164", "<38>Nov 25 07:13:18 web1 sshd[32708]: Failed password for invalid user admin from 203.0.113.45 port 51234 ssh2"},
	{"rfc5424", `<38>1 2026-11-25T07:13:18.123456+00:00 web1 sshd 32708 - [timeQuality tzKnown="1" isSynced="1"] Failed password for invalid user admin from 203.0.113.45 port 51234 ssh2`},
}

// benchListener runs a listener and a consumer counting what it receives.
func benchListener(b *testing.B, listen string, queue int) (*Listener, *atomic.Int64) {
	b.Helper()
	l, err := New(Config{Listen: listen}, nil)
	if err != nil {
		b.Fatal(err)
	}
	out := make(chan ingest.Entry, queue)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, out) }()
	select {
	case <-l.Ready():
	case err := <-done:
		b.Fatal(err)
	}
	var got atomic.Int64
	go func() {
		for {
			select {
			case <-out:
				got.Add(1)
			case <-ctx.Done():
				return
			}
		}
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return l, &got
}

// waitDelivered waits until n entries arrived or none arrived for a while;
// it returns how many arrived and when the last one did.
func waitDelivered(got *atomic.Int64, n int64) (int64, time.Time) {
	last, since := got.Load(), time.Now()
	for {
		g := got.Load()
		if g >= n {
			return g, time.Now()
		}
		if g != last {
			last, since = g, time.Now()
		} else if time.Since(since) > time.Second {
			return g, since
		}
		runtime.Gosched()
	}
}

// BenchmarkUDP sends datagrams from a Go client. The sender keeps at most
// window messages in flight (sent but not yet consumed), which is a rate
// the listener sustains: no message may be dropped. The flood variant sends
// as fast as it can and reports what was lost (queue drops and kernel
// socket-buffer overflows), without failing.
func BenchmarkUDP(b *testing.B) {
	for _, m := range benchMessages {
		b.Run(m.name, func(b *testing.B) { benchUDP(b, m.msg, 256) })
	}
	b.Run("rfc3164-flood", func(b *testing.B) { benchUDP(b, benchMessages[0].msg, 0) })
}

func benchUDP(b *testing.B, msg string, window int64) {
	l, got := benchListener(b, "udp://127.0.0.1:0", 1024)
	c, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	payload := []byte(msg)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := int64(0); i < int64(b.N); i++ {
		for window > 0 && i-got.Load() >= window {
			runtime.Gosched()
		}
		if _, err := c.Write(payload); err != nil {
			b.Fatal(err)
		}
	}
	n, end := waitDelivered(got, int64(b.N))
	elapsed := end.Sub(start)
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(st.Dropped), "drops")
	b.ReportMetric(float64(int64(b.N)-n), "lost")
	if window > 0 && (st.Dropped != 0 || n != int64(b.N)) {
		b.Errorf("paced sender: %d of %d delivered, %d dropped", n, b.N, st.Dropped)
	}
	if st.Errors != 0 {
		b.Errorf("errors: %+v", st)
	}
}

// BenchmarkTCP streams messages over connections from Go clients; TCP
// waits for the consumer, so nothing may be lost.
func BenchmarkTCP(b *testing.B) {
	for _, m := range benchMessages {
		b.Run(m.name+"-newline", func(b *testing.B) { benchTCP(b, m.msg, false, 1) })
		b.Run(m.name+"-octet", func(b *testing.B) { benchTCP(b, m.msg, true, 1) })
	}
	b.Run("rfc3164-newline-4conns", func(b *testing.B) { benchTCP(b, benchMessages[0].msg, false, 4) })
}

func benchTCP(b *testing.B, msg string, octet bool, conns int) {
	l, got := benchListener(b, "tcp://127.0.0.1:0", 1024)
	frame := []byte(msg + "\n")
	if octet {
		frame = fmt.Appendf(nil, "%d %s", len(msg), msg)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	errs := make(chan error, conns)
	for k := range conns {
		go func() {
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			w := bufio.NewWriterSize(c, 64<<10)
			for i := k; i < b.N; i += conns {
				if _, err := w.Write(frame); err != nil {
					errs <- err
					return
				}
			}
			errs <- w.Flush()
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	n, end := waitDelivered(got, int64(b.N))
	elapsed := end.Sub(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	if st := l.Stats(); n != int64(b.N) || st.Errors != 0 || st.Skipped != 0 {
		b.Errorf("%d of %d delivered; stats %+v", n, b.N, st)
	}
}
