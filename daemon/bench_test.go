package daemon

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// freePort finds a free loopback port for proto ("udp" or "tcp").
func freePort(b *testing.B, proto string) int {
	b.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// BenchmarkSyslogPipeline measures messages per second that logjail
// receives over loopback syslog, parses, and matches with the sshd filter
// (40% sshd failures, 60% other programs), with no drops: the sender works
// in windows and waits until the pipeline has processed each one.
//
//	go test -run '^$' -bench SyslogPipeline -benchtime 200000x ./daemon/
func BenchmarkSyslogPipeline(b *testing.B) {
	for _, proto := range []string{"udp", "tcp"} {
		b.Run(proto, func(b *testing.B) {
			dir := b.TempDir()
			port := freePort(b, proto)
			c := loadConfig(b, dir, fmt.Sprintf("pipelines:\n  bench:\n    enabled: true\n    maxretry: 1000\n    ingest: [{syslog: {listen: \"%s://127.0.0.1:%d\"}}]\n    match: {filter: sshd}\n", proto, port))
			cl, stop := startDaemon(b, dir, Options{Config: c})
			defer stop()
			processed := func() (uint64, uint64) {
				st, err := cl.PipelineStatus(context.Background(), "bench")
				if err != nil || len(st.Sources) == 0 || !strings.HasPrefix(st.Sources[0].Reason, "listening") {
					return 0, 0
				}
				return st.Filter.Matched + st.Filter.Missed + st.Filter.Ignored + st.Filter.BadAddress, st.Sources[0].Dropped
			}
			testkit.WaitFor(b, 10*time.Second, func() error {
				st, err := cl.PipelineStatus(context.Background(), "bench")
				if err != nil {
					return err
				}
				return testkit.Check(len(st.Sources) > 0 && strings.HasPrefix(st.Sources[0].Reason, "listening"), "pipeline not listening: %+v", st.Sources)
			})
			conn, err := net.Dial(proto, fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			w := bufio.NewWriterSize(conn, 64<<10)
			msgs := make([][]byte, 100)
			for i := range msgs {
				var m string
				if i%5 < 2 {
					m = fmt.Sprintf("<38>Nov 25 07:13:%02d host1 sshd[%d]: Failed password for root from 203.0.113.%d port %d ssh2", i%60, 1000+i, i, 40000+i)
				} else {
					m = fmt.Sprintf("<86>Nov 25 07:13:%02d host1 CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", i%60, 1000+i)
				}
				if proto == "tcp" {
					m = fmt.Sprintf("%d %s", len(m), m)
				}
				msgs[i] = []byte(m)
			}
			const window = 1000
			b.ResetTimer()
			start := time.Now()
			sent := 0
			for sent < b.N {
				n := min(window, b.N-sent)
				for i := range n {
					if proto == "udp" {
						conn.Write(msgs[(sent+i)%len(msgs)])
					} else {
						w.Write(msgs[(sent+i)%len(msgs)])
					}
				}
				w.Flush()
				sent += n
				for {
					p, dropped := processed()
					if dropped > 0 {
						b.Fatalf("%d messages dropped", dropped)
					}
					if p >= uint64(sent) {
						break
					}
					if time.Since(start) > 5*time.Minute {
						b.Fatalf("processed %d of %d", p, sent)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
