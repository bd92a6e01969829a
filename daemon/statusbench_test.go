package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

// BenchmarkStatusWithBans measures the control socket of a daemon (dry
// run) holding 100,000 bans: `status a`, which lists every ban, until its
// first byte and until its last, and the worst latency of `status`, asked
// every 5 ms meanwhile.
func BenchmarkStatusWithBans(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	s, err := store.Open(filepath.Join(dir, "state", "dry-run")) // a dry run's store
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for first := 0; first < n; first += 10_000 {
		c := []state.Decision{}
		for i := first; i < first+10_000; i++ {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			c = append(c, state.Decision{Kind: state.Ban, Pipeline: "a", Prefix: netip.PrefixFrom(a, 32), Time: now, Until: now.Add(time.Hour), Failures: 5, BanCount: 1, Reason: "5 failures within 10m"})
		}
		if err := s.Commit("a", &store.Changes{Decisions: c}); err != nil {
			b.Fatal(err)
		}
	}
	if got, err := s.Bans("a"); len(got) != n {
		b.Fatalf("%d bans stored, %v", len(got), err)
	}
	s.Close()
	cfg := loadConfig(b, dir, "pipelines:\n  a:\n    enabled: true\n    bantime: 1h\n    ingest: [{file: {paths: ["+filepath.Join(dir, "a.log")+"]}}]\n    match: {filter: sshd}\n")
	cl, stop := startDaemon(b, dir, Options{Config: cfg})
	defer stop()
	ctx := context.Background()
	testkit.WaitFor(b, time.Minute, func() error {
		st, err := cl.PipelineStatus(ctx, "a")
		if err == nil && st.Actions.CurrentlyBanned != n {
			err = fmt.Errorf("%d bans restored of %d", st.Actions.CurrentlyBanned, n)
		}
		return err
	})
	var first, last, worst time.Duration
	for b.Loop() {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
				began := time.Now()
				if _, err := cl.Status(ctx); err != nil {
					b.Error(err)
				}
				worst = max(worst, time.Since(began))
			}
		}()
		began := time.Now()
		resp, err := cl.send(ctx, http.MethodGet, "/v1/status/a", nil)
		if err != nil {
			b.Fatal(err)
		}
		one := make([]byte, 1)
		if _, err := io.ReadFull(resp.Body, one); err != nil {
			b.Fatal(err)
		}
		first = max(first, time.Since(began))
		size, err := io.Copy(io.Discard, resp.Body)
		if err != nil || size < n*100 {
			b.Fatalf("%d bytes, %v", size, err)
		}
		resp.Body.Close()
		last = max(last, time.Since(began))
		close(done)
		wg.Wait()
	}
	b.ReportMetric(ms(first), "first-byte-worst-ms")
	b.ReportMetric(ms(last), "last-byte-worst-ms")
	b.ReportMetric(ms(worst), "status-worst-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
