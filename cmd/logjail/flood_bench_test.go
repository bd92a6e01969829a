package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// floodRetry is the flood pipeline's maxretry: each attacker fails this
// often.
const floodRetry = 5

// floodConfig is the pipeline the flood attacks: the shipped sshd filter,
// nftables, a ban of an hour, so that no ban runs out during the run.
var floodConfig = e2ePipeline("maxretry: 5", "findtime: 10m", "bantime: 1h", fileSource, sshdFilter, nftables2222)

// BenchmarkFlood is a flood as a user would measure it: the real logjail
// binary in a network namespace, its file source, and N distinct attackers
// failing maxretry times each, appended at once. It reports the time until
// all N are elements of the kernel set (and bans/s), logjail's peak RSS,
// and the worst latency of the control socket throughout: `status` (the
// daemon's, decoded) called every 50 ms, and every second `status e2e` (the
// pipeline's, which lists every ban) read whole and discarded, timed to
// its first byte (the daemon's answer) and to its last (the document).
// Beside it, fail2ban-server with its stock nftables action gets the flood
// of N = 200 (it bans about 20 a second), and so does logjail. Then logjail
// gets N = 20k and 100k; LOGJAIL_FLOOD_1M=1 adds N = 1M. LOGJAIL_FLOOD_BIN
// runs another logjail binary (an older build, to compare).
//
//	task flood-bench
//	LOGJAIL_FLOOD_BENCH=1 go test -run '^$' -bench Flood -benchtime 1x -timeout 30m ./cmd/logjail/
func BenchmarkFlood(b *testing.B) {
	if os.Getenv("LOGJAIL_FLOOD_BENCH") != "1" {
		b.Skip("minutes of flooding: run it with `task flood-bench` (LOGJAIL_FLOOD_BENCH=1)")
	}
	testkit.NeedRoot(b, "ip")
	sizes := []int{20_000, 100_000}
	if os.Getenv("LOGJAIL_FLOOD_1M") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	b.Run(fmt.Sprintf("fail2ban/attackers=%d", fail2banFloodN), func(b *testing.B) {
		var secs float64
		for range b.N {
			secs = fail2banFlood(b, fail2banFloodN)
		}
		fmt.Printf("fail2ban-server, stock nftables action: %d attackers x %d failures all in its set after %.2fs (%.1f bans/s)\n",
			fail2banFloodN, floodRetry, secs, float64(fail2banFloodN)/secs)
		b.ReportMetric(float64(fail2banFloodN)/secs, "bans/s")
		b.ReportMetric(0, "ns/op")
	})
	for _, n := range append([]int{fail2banFloodN}, sizes...) {
		b.Run(fmt.Sprintf("attackers=%d", n), func(b *testing.B) {
			var r floodResult
			for range b.N {
				r = flood(b, n)
			}
			fmt.Printf("flood of %d attackers x %d failures: all in the kernel set after %.2fs (%.0f bans/s), logjail's CPU %.2fs, peak RSS %.0f MiB, worst latency: status %.1f ms, status e2e first byte %.1f ms, whole %.1f ms\n",
				n, floodRetry, r.secs, float64(n)/r.secs, r.cpu.Seconds(), float64(r.rssKB)/1024, ms(r.probe.status), ms(r.probe.firstByte), ms(r.probe.whole))
			b.ReportMetric(float64(n)/r.secs, "bans/s")
			b.ReportMetric(r.cpu.Seconds(), "logjail-cpu-s")
			b.ReportMetric(float64(r.rssKB)/1024, "peak-RSS-MiB")
			b.ReportMetric(ms(r.probe.status), "status-worst-ms")
			b.ReportMetric(ms(r.probe.firstByte), "pipeline-status-first-byte-worst-ms")
			b.ReportMetric(ms(r.probe.whole), "pipeline-status-read-worst-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type floodResult struct {
	secs  float64
	rssKB int
	cpu   time.Duration // logjail's, user and system
	probe probeWorst
}

// flood runs one flood of n attackers against a fresh logjail.
func flood(b *testing.B, n int) floodResult {
	b.StopTimer()
	tn := &testNet{srv: testkit.NamedNetns(b, "lj-flood")}
	s := newSetup(b, floodConfig)
	s.logLevel = "info"                    // as a user runs it: one line per ban
	s.bin = os.Getenv("LOGJAIL_FLOOD_BIN") // another build, to compare
	in := s.start(b, tn)
	pid := in.cmd.Process.Pid
	cpu := cpuTime(b, pid)
	probe := probeControl(s.socket, "e2e")
	b.StartTimer()
	start := time.Now()
	writeFlood(b, s.logFile, n)
	waitAttackersInSet(b, tn.srv, n, start)
	b.StopTimer()
	r := floodResult{secs: time.Since(start).Seconds(), rssKB: peakRSS(b, pid), cpu: cpuTime(b, pid) - cpu}
	r.probe = probe()
	return r
}

// waitAttackersInSet waits until the first n attackers are all in the e2e
// pipeline's IPv4 set of namespace ns. Bans reach the kernel about in the
// log's order: the last attacker's is asked for until it is there, then
// every attacker's, in chunks (asked for by key: listing a large set takes
// minutes).
func waitAttackersInSet(b *testing.B, ns string, n int, start time.Time) {
	deadline := start.Add(20 * time.Minute)
	for first := n - 1; first < n; {
		err := setHolds(b, ns, "e2e-v4", first, min(first+floodChunk, n))
		switch {
		case err == nil && first == n-1:
			first = 0
		case err == nil:
			first += floodChunk
		case time.Now().After(deadline):
			b.Fatalf("after %s: %v", time.Since(start), err)
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// writeFlood appends n attackers' floodRetry failures each to path, as
// fast as it can: the attackers come in waves of 1,000, each of whom
// fails once per round, so windows of many addresses are open at once.
func writeFlood(b *testing.B, path string, n int) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	stamp := time.Now().Format(time.Stamp)
	const wave = 1000
	for first := 0; first < n; first += wave {
		for round := range floodRetry {
			for i := first; i < min(first+wave, n); i++ {
				fmt.Fprintf(w, "%s srv sshd[%d]: Failed password for root from %s port %d ssh2\n",
					stamp, 1000+i%60000, floodAddr(i), 40000+round)
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// floodAddr is the i'th attacker's address, in 10.0.0.0/8.
func floodAddr(i int) string {
	u := uint32(i) + 1
	return fmt.Sprintf("10.%d.%d.%d", byte(u>>16), byte(u>>8), byte(u))
}

// floodChunk is how many attackers setHolds is asked about at once.
const floodChunk = 500

// setHolds is nil when logjail's set in namespace ns holds the attackers
// from first to end (exclusive). It asks the kernel for their keys, which
// costs the same in a set of any size, where listing the set (as nft does
// even for `nft get element`) takes minutes for a million elements.
func setHolds(b *testing.B, ns, set string, first, end int) error {
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// The kernel answers each key with a message of its own.
	if err := c.SetReadBuffer(4 << 20); err != nil {
		b.Fatal(err)
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, "logjail")
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, set)
	ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(ae *netlink.AttributeEncoder) error {
		for i := first; i < end; i++ {
			key := netip.MustParseAddr(floodAddr(i)).AsSlice()
			ae.Nested(unix.NFTA_LIST_ELEM, func(ae *netlink.AttributeEncoder) error {
				ae.Nested(unix.NFTA_SET_ELEM_KEY, func(ae *netlink.AttributeEncoder) error {
					ae.Bytes(unix.NFTA_DATA_VALUE, key)
					return nil
				})
				return nil
			})
		}
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		b.Fatal(err)
	}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
	if err != nil {
		return fmt.Errorf("set %s: attackers %d to %d: %w", set, first, end-1, err)
	}
	return nil
}

// probeWorst are the control socket's worst latencies during a flood.
type probeWorst struct {
	status time.Duration // `status`, answered and decoded
	// firstByte and whole time `status PIPELINE` to the first byte of its
	// answer and to the end of the document (read, not decoded).
	firstByte, whole time.Duration
}

// probeControl calls the daemon's status on socket every 50 ms, and reads
// the pipeline's every second (its answer lists every ban: 100 MB of JSON
// for a million; LOGJAIL_FLOOD_PIPELINE_STATUS_EVERY=0 leaves it out), each
// as soon as the last call answered when that took longer, until the
// returned function is called; that returns the worst latencies. The
// pipeline's answer is discarded, not decoded: decoding it would take the
// benchmark's CPU from the daemon, on the same cores.
func probeControl(socket, pipeline string) func() probeWorst {
	ctx, cancel := context.WithCancel(context.Background())
	c := daemon.NewClient(socket)
	var wg sync.WaitGroup
	var worst probeWorst
	every := []time.Duration{50 * time.Millisecond, time.Second}
	if d, err := time.ParseDuration(os.Getenv("LOGJAIL_FLOOD_PIPELINE_STATUS_EVERY")); err == nil {
		every[1] = d // 0 asks for it never
	}
	calls := []func(){
		func() {
			began := time.Now()
			_, err := c.Status(ctx)
			worst.status = max(worst.status, orFailed(ctx, time.Since(began), err))
		},
		func() {
			first, whole, err := readPipelineStatus(ctx, socket, pipeline)
			worst.firstByte = max(worst.firstByte, orFailed(ctx, first, err))
			worst.whole = max(worst.whole, orFailed(ctx, whole, err))
		},
	}
	for i, call := range calls {
		if every[i] == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				call()
				time.Sleep(every[i])
			}
		}()
	}
	return func() probeWorst {
		cancel()
		wg.Wait()
		return worst
	}
}

// orFailed is a call's latency d, or an hour (worse than any answer) for a
// call that failed before ctx was cancelled.
func orFailed(ctx context.Context, d time.Duration, err error) time.Duration {
	if err != nil && ctx.Err() == nil {
		return time.Hour
	}
	return d
}

// readPipelineStatus asks the daemon on socket for pipeline's status and
// reads the answer to its end without decoding it: it returns the time to
// the answer's first byte and to its last.
func readPipelineStatus(ctx context.Context, socket, pipeline string) (first, whole time.Duration, err error) {
	began := time.Now()
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Since(began) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, "http://logjail/v1/status/"+url.PathEscape(pipeline), nil)
	if err != nil {
		return 0, 0, err
	}
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("status %s: %s", pipeline, resp.Status)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, 0, err
	}
	return first, time.Since(began), nil
}

// cpuTime is the CPU time process pid has used (user and system).
func cpuTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command's (which may hold spaces), from the
	// third: utime and stime are the 14th and 15th, in clock ticks (100/s).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// peakRSS is process pid's peak resident set (VmHWM) in KiB.
func peakRSS(b *testing.B, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
