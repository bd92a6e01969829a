package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state/gate"
)

// startDryRun runs the daemon in-process in dry-run mode on a temporary
// log, state dir and socket.
func startDryRun(t *testing.T, dir string) (*Client, func()) {
	return startDryRunMetrics(t, dir, "")
}

func startDryRunMetrics(t *testing.T, dir, metricsAddr string) (*Client, func()) {
	t.Helper()
	c := loadConfig(t, dir, "pipelines:\n  a:\n    enabled: true\n    bantime: 1h\n    ingest: [{file: {paths: ["+filepath.Join(dir, "a.log")+"]}}]\n    match: {filter: sshd}\n"+
		"  b:\n    enabled: true\n    ignoreip: [192.0.2.128/25]\n    ingest: [{file: {paths: ["+filepath.Join(dir, "b.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	return startDaemon(t, dir, Options{Config: c, Metrics: metricsAddr})
}

func TestControlAPI(t *testing.T) {
	dir := t.TempDir()
	cl, stop := startDryRun(t, dir)
	ctx := context.Background()

	st, err := cl.Status(ctx)
	if err != nil || strings.Join(st.Pipelines, ",") != "a,b" {
		t.Fatalf("status %+v %v", st, err)
	}
	b, err := cl.Ban(ctx, BanRequest{Pipeline: "a", Addr: "::ffff:203.0.113.7", For: "1d"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Addr != "203.0.113.7" || b.Until == nil || b.RemainingS < 86390 || b.RemainingS > 86400 || b.Reason != "manual" {
		t.Errorf("ban %+v", b)
	}
	if _, err := cl.Ban(ctx, BanRequest{Pipeline: "b", Addr: "2001:db8::9", For: "-1"}); err != nil {
		t.Fatal(err)
	}
	checkBanRefusals(t, cl)
	bans, err := cl.Banned(ctx)
	if err != nil || len(bans) != 2 {
		t.Fatalf("banned %+v %v", bans, err)
	}
	if bans[1].Pipeline != "b" || bans[1].Until != nil || bans[1].RemainingS != -1 {
		t.Errorf("permanent ban %+v", bans[1])
	}
	ps, err := cl.PipelineStatus(ctx, "a")
	if err != nil || ps.Actions.CurrentlyBanned != 1 || ps.Actions.Banned[0] != "203.0.113.7" || len(ps.Sources) != 1 || !strings.HasPrefix(ps.Sources[0].Watching, "file ") {
		t.Fatalf("pipeline status %+v %v", ps, err)
	}
	if _, err := cl.PipelineStatus(ctx, "nosuch"); err == nil {
		t.Error("status of an unknown pipeline succeeded")
	}

	// Bans survive a restart of the daemon.
	stop()
	cl, stop = startDryRun(t, dir)
	defer stop()
	bans, err = cl.Banned(ctx)
	if err != nil || len(bans) != 2 || bans[0].Addr != "203.0.113.7" || bans[0].RemainingS < 86390 {
		t.Fatalf("after restart: %+v %v", bans, err)
	}
	ur, err := cl.Unban(ctx, UnbanRequest{Addr: "203.0.113.7"})
	if err != nil || strings.Join(ur.Pipelines, ",") != "a" {
		t.Fatalf("unban %+v %v", ur, err)
	}
	if _, err := cl.Unban(ctx, UnbanRequest{Addr: "203.0.113.7"}); err == nil || !strings.Contains(err.Error(), "is not banned") {
		t.Fatalf("second unban: %v", err)
	}
	if _, err := cl.Ban(ctx, BanRequest{Pipeline: "a", Addr: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}
	all, err := cl.Unban(ctx, UnbanRequest{All: true})
	if err != nil || all.Count != 2 {
		t.Fatalf("unban --all: %+v %v (want the 2 remaining bans lifted)", all, err)
	}
	if bans, _ := cl.Banned(ctx); len(bans) != 0 {
		t.Fatalf("after unban --all: %+v", bans)
	}
	if fi, err := os.Stat(filepath.Join(dir, "s.sock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
}

// checkBanRefusals: Ban refuses what it cannot ban, saying why.
func checkBanRefusals(t *testing.T, cl *Client) {
	ctx := context.Background()
	self := hostAddress(t)
	for _, tc := range []struct {
		name    string
		req     BanRequest
		wantErr string
	}{
		{"unknown pipeline", BanRequest{Pipeline: "nosuch", Addr: "192.0.2.1"}, `no pipeline "nosuch" (running or stopped: a, b)`},
		{"bad address", BanRequest{Pipeline: "a", Addr: "192.0.2.300"}, `invalid address "192.0.2.300"`},
		{"prefix", BanRequest{Pipeline: "a", Addr: "192.0.2.0/24"}, "only single addresses"},
		{"bad duration", BanRequest{Pipeline: "a", Addr: "192.0.2.1", For: "soon"}, "--for: invalid duration"},
		{"ignoreip", BanRequest{Pipeline: "b", Addr: "192.0.2.200"}, "192.0.2.200 is in ignoreip of pipeline b"},
		{"the host's own address", BanRequest{Pipeline: "a", Addr: self.String()}, self.String() + " is an address of this host, which pipeline a never bans (ignoreself); set ignoreself: false there to ban it"},
		{"loopback", BanRequest{Pipeline: "a", Addr: "127.0.0.1"}, "127.0.0.1 is not a host address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := cl.Ban(ctx, tc.req); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want error %q, got %v", tc.wantErr, err)
			}
		})
	}
}

// hostAddress is one of this host's addresses that could be banned were it
// not the host's (not loopback, not link-local).
func hostAddress(t *testing.T) netip.Addr {
	t.Helper()
	host, err := gate.HostNow()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range host.Prefixes() {
		if gate.HostAddress(p.Addr()) {
			return p.Addr()
		}
	}
	t.Fatalf("this host has no address but loopback and link-local ones: %v", host.Prefixes())
	return netip.Addr{}
}

func TestClientWithoutDaemon(t *testing.T) {
	_, err := NewClient(filepath.Join(t.TempDir(), "none.sock")).Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no logjail is listening") {
		t.Fatalf("got %v", err)
	}
}

func TestMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl, stop := startDryRunMetrics(t, t.TempDir(), addr)
	defer stop()
	if _, err := cl.Ban(context.Background(), BanRequest{Pipeline: "a", Addr: "203.0.113.5"}); err != nil {
		t.Fatal(err)
	}
	var body string
	testkit.WaitFor(t, 10*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return nil
	})
	for _, want := range []string{
		`logjail_bans_total{pipeline="a"} 1`,
		`logjail_active_bans{pipeline="a"} 1`,
		`logjail_active_bans{pipeline="b"} 0`,
		`logjail_pipeline_up{pipeline="a"} 1`,
		`logjail_firewall_restores_total 0`,
		`logjail_source_entries_total{pipeline="a",source="file `,
		`logjail_queue_depth{pipeline="b"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
