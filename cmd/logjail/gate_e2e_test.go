package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logjail/logjail/daemon"
	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/internal/hostile"
	"github.com/logjail/logjail/internal/testkit"
)

// gateConfig: e2e counts sshd failures and is shared with the fleet;
// recidive reads logjail-style ban lines from a file and the bans of
// open, which bans this host's own addresses (ignoreself: false).
const gateConfig = `
fleet:
  nats: {url: "URL"}
  node: node1
  share: [e2e]
pipelines:
  e2e:
    enabled: true
    maxretry: 2
    findtime: 10m
    bantime: 1h
    ingest: [{file: {paths: [LOGFILE], poll: 200ms}}]
    match: {filter: sshd}
    enforce: [{nftables: {ports: [2222]}}]
  open:
    enabled: true
    maxretry: 1
    bantime: 1h
    ignoreself: false
    ingest: [{file: {paths: [OPENLOG], poll: 200ms}}]
    match: {filter: sshd}
    enforce: [{nftables: {ports: [2223]}}]
  recidive:
    enabled: true
    maxretry: 2
    findtime: 1d
    bantime: 1w
    ingest:
      - file: {paths: [RECIDIVELOG], poll: 200ms}
      - bans: {pipelines: [open]}
    match: {filter: recidive}
    enforce: [{nftables: {ports: [2224]}}]
`

// gateRun is a logjail in a fleet node's namespace with the test's view
// of it.
type gateRun struct {
	h                  *natsHub
	node               *testNet
	s                  *setup
	openLog, recidLog  string
	in                 *instance
	server, self       string // the NATS server's address, the node's own
	tokens             []string
	attackers, fleetNo int
	js                 jetstream.JetStream
	top                *testing.T // what runs for the whole test is started on it, not a subtest
}

// attacker returns a fresh address that every path bans: proof that the
// path works and that what was sent before it was processed.
func (g *gateRun) attacker() string {
	g.attackers++
	return fmt.Sprintf("203.0.113.%d", g.attackers)
}

// bannedAny reports whether any pipeline bans addr (in the store or the
// kernel's sets), whatever the spelling it was sent in.
func (g *gateRun) bannedAny(t *testing.T, tok string) bool {
	t.Helper()
	a := netip.MustParseAddr(tok).Unmap()
	for _, b := range banned(t, g.s.socket) {
		if p, err := netip.ParsePrefix(b.Addr); err == nil && p.Contains(a) || b.Addr == a.String() {
			return true
		}
	}
	for _, set := range []string{"e2e-v4", "e2e-v6", "open-v4", "open-v6", "recidive-v4", "recidive-v6"} {
		if els, err := tryElements(g.node, set); err == nil {
			if _, ok := els[a]; ok {
				return true
			}
		}
	}
	return false
}

// banOf reports whether pipeline bans addr.
func (g *gateRun) banOf(t *testing.T, pipeline, addr string) bool {
	t.Helper()
	return slices.ContainsFunc(banned(t, g.s.socket), func(b daemon.Ban) bool { return b.Pipeline == pipeline && b.Addr == addr })
}

// noneBanned fails for every token some pipeline bans.
func (g *gateRun) noneBanned(t *testing.T, path string) {
	t.Helper()
	for _, tok := range g.tokens {
		if g.bannedAny(t, tok) {
			t.Errorf("%s: %s was banned", path, tok)
		}
	}
}

func (g *gateRun) refused(t *testing.T, pipeline string) map[string]uint64 {
	t.Helper()
	st, err := daemon.NewClient(g.s.socket).PipelineStatus(context.Background(), pipeline)
	if err != nil {
		t.Fatalf("status %s: %v", pipeline, err)
	}
	return st.RefusedByGate
}

// fresh lifts every ban, so that what a path bans is its own doing.
func (g *gateRun) fresh(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(binary, "unban", "--all", "--socket", g.s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail unban --all: %v\n%s", err, out)
	}
}

func appendRaw(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
}

// The same hostile addresses (non-host ones and the NATS server's, plain
// and IPv4-mapped) through every path a ban can take: a log line, a
// manual ban, a fleet ban message, recidive (from a log and from the bans
// source), and an imported state. None is banned; each path still bans an
// attacker sent after them. Then an address added to the host's interface
// while logjail runs is refused without a reload.
func TestGateEveryPath(t *testing.T) {
	t.Parallel()
	h := newNATSHub(t, 1)
	g := &gateRun{h: h, node: h.nodes[0], server: "10.77.1.1", self: "10.77.1.2", top: t}
	g.tokens = hostile.Tokens(g.server)
	dir := t.TempDir()
	g.openLog, g.recidLog = filepath.Join(dir, "open.log"), filepath.Join(dir, "recidive.log")
	g.s = newSetup(t, strings.NewReplacer("URL", h.url(1), "OPENLOG", g.openLog, "RECIDIVELOG", g.recidLog).Replace(gateConfig))
	g.in = g.s.start(t, g.node)
	_, g.js = h.client(t)
	t.Run("log line", g.pathLogLine)
	t.Run("manual", g.pathManual)
	t.Run("fleet", g.pathFleet)
	t.Run("recidive", g.pathRecidive)
	t.Run("import", g.pathImport)
	t.Run("address added at run time", g.pathAddressAdded)
}

// pathLogLine: failures of the tokens in the log.
func (g *gateRun) pathLogLine(t *testing.T) {
	for _, tok := range g.tokens {
		g.s.appendLines(t, time.Now(), failures(tok, 2)...)
	}
	a := g.attacker()
	g.s.appendLines(t, time.Now(), failures(a, 2)...)
	waitBanOf(t, 10*time.Second, g.s.socket, "e2e", a)
	g.noneBanned(t, "log line")
	// Every token reached the gate (none was lost on the way).
	ref := g.refused(t, "e2e")
	if got, want := ref["not_host"]+ref["nats_server"], uint64(2*len(g.tokens)); got < want {
		t.Errorf("refused %v: %d failures refused, want %d", ref, got, want)
	}
	if ref["nats_server"] == 0 {
		t.Errorf("refused %v: the NATS server's address not refused as one", ref)
	}
}

// pathManual: logjail ban of each token is refused with the reason.
func (g *gateRun) pathManual(t *testing.T) {
	g.fresh(t)
	for _, tok := range g.tokens {
		out, err := exec.Command(binary, "ban", "e2e", tok, "--socket", g.s.socket).CombinedOutput()
		want := "is not a host address"
		if netip.MustParseAddr(tok).Unmap().String() == g.server {
			want = "is a NATS server logjail uses"
		}
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("logjail ban e2e %s: %v, %q; want refused: %q", tok, err, out, want)
		}
	}
	a := g.attacker()
	if out, err := exec.Command(binary, "ban", "e2e", a, "--socket", g.s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail ban %s: %v\n%s", a, err, out)
	}
	g.noneBanned(t, "manual")
}

// pathFleet: fleet ban messages of the tokens.
func (g *gateRun) pathFleet(t *testing.T) {
	g.fresh(t)
	publish := func(addr string, prefix int) {
		now := time.Now().UTC()
		until := now.Add(time.Hour)
		ev := enfnats.Event{Type: "ban", Pipeline: "e2e", Addr: addr, Prefix: prefix, Time: now, Until: &until, BantimeS: 3600, Failures: 5, BanCount: 1, Origin: "node9", Lines: []string{}}
		data, _ := json.Marshal(ev)
		subject := "logjail.fleet.bans.e2e." + strings.NewReplacer(".", "_", ":", "-").Replace(addr)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := g.js.Publish(ctx, subject, data, jetstream.WithMsgID(fmt.Sprint("gate-", g.fleetNo))); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
		g.fleetNo++
	}
	for _, tok := range g.tokens {
		publish(tok, netip.MustParseAddr(tok).BitLen())
	}
	a := g.attacker()
	publish(a, 32)
	waitBanOf(t, 10*time.Second, g.s.socket, "e2e", a)
	g.noneBanned(t, "fleet")
}

// pathRecidive: recidive from its log and from the bans source.
func (g *gateRun) pathRecidive(t *testing.T) {
	g.fresh(t)
	for _, tok := range g.tokens {
		appendRaw(t, g.recidLog, strings.Repeat(fmt.Sprintf("time=%s level=INFO msg=ban pipeline=sshd addr=%s\n", time.Now().Format(time.RFC3339), tok), 2))
	}
	a := g.attacker()
	appendRaw(t, g.recidLog, strings.Repeat(fmt.Sprintf("time=%s level=INFO msg=ban pipeline=sshd addr=%s\n", time.Now().Format(time.RFC3339), a), 2))
	waitBanOf(t, 10*time.Second, g.s.socket, "recidive", a)
	g.noneBanned(t, "recidive")
	// From the bans source: open bans this host's own address (its
	// ignoreself is off); recidive, whose ignoreself is on, does not.
	appendRaw(t, g.openLog, fmt.Sprintf("%s srv %s", time.Now().Format(time.Stamp), failures(g.self, 1)[0]))
	waitBanOf(t, 10*time.Second, g.s.socket, "open", g.self)
	appendRaw(t, g.openLog, fmt.Sprintf("%s srv %s", time.Now().Format(time.Stamp), failures(g.self, 1)[0]))
	testkit.WaitFor(t, 10*time.Second, func() error {
		ref := g.refused(t, "recidive")
		return testkit.Check(ref["ignoreself"] > 0, "recidive refuses the host's address from the bans source: refused %v", ref)
	})
	if g.banOf(t, "recidive", g.self) {
		t.Errorf("recidive banned the host's own address %s", g.self)
	}
}

// pathImport: an export with the tokens' bans added, imported while
// logjail is stopped.
func (g *gateRun) pathImport(t *testing.T) {
	g.fresh(t)
	doc, err := exec.Command(binary, "export", "--socket", g.s.socket).Output()
	if err != nil {
		t.Fatalf("logjail export: %v", err)
	}
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	bans, _ := d["bans"].([]any)
	a := g.attacker()
	now := time.Now().UTC()
	for _, tok := range append(append([]string{}, g.tokens...), a) {
		// A mapped address is its IPv4 one's record: in another
		// pipeline, or the document holds it twice.
		pipeline := "e2e"
		if strings.HasPrefix(tok, "::ffff:") {
			pipeline = "recidive"
		}
		bans = append(bans, map[string]any{
			"pipeline": pipeline, "prefix": fmt.Sprintf("%s/%d", tok, netip.MustParseAddr(tok).BitLen()),
			"time": now.Format(time.RFC3339), "until": now.Add(time.Hour).Format(time.RFC3339),
			"failures": 2, "ban_count": 1, "reason": "imported",
		})
	}
	d["bans"] = bans
	file := filepath.Join(t.TempDir(), "state.json")
	data, _ := json.Marshal(d)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	g.in.kill()
	g.in.cmd.Process.Wait()
	if out, err := exec.Command(binary, "import", file, "--state-dir", g.s.stateDir).CombinedOutput(); err != nil {
		t.Fatalf("logjail import: %v\n%s", err, out)
	}
	g.in = g.s.start(g.top, g.node)
	waitBanOf(t, 10*time.Second, g.s.socket, "e2e", a)
	g.noneBanned(t, "import")
	for _, p := range []string{"e2e", "recidive"} {
		if ref := g.refused(t, p); ref["not_host"] == 0 || ref["nats_server"] == 0 {
			t.Errorf("%s: imported bans refused %v: want not_host and nats_server counted", p, ref)
		}
	}
}

// pathAddressAdded: ignoreself follows the host's addresses live: one
// added after start is refused without a reload, by every path.
func (g *gateRun) pathAddressAdded(t *testing.T) {
	g.fresh(t)
	const added = "198.51.100.200"
	testkit.Run(t, "ip", "-n", g.node.srv, "addr", "add", added+"/24", "dev", "fn")
	want := added + " is an address of this host, which pipeline e2e never bans (ignoreself); set ignoreself: false there to ban it"
	testkit.WaitFor(t, 10*time.Second, func() error {
		out, err := exec.Command(binary, "ban", "e2e", added, "--socket", g.s.socket).CombinedOutput()
		if err == nil {
			// Not seen yet: lifted again, and asked once more.
			exec.Command(binary, "unban", added, "--socket", g.s.socket).Run()
			return fmt.Errorf("manual ban of the new address refused (ignoreself): logjail ban %s succeeded: %s", added, out)
		}
		if !strings.Contains(string(out), want) {
			t.Fatalf("logjail ban %s: %q, want %q", added, out, want)
		}
		return nil
	})
	for _, tok := range []string{added, "::ffff:" + added} {
		g.s.appendLines(t, time.Now(), failures(tok, 2)...)
	}
	a := g.attacker()
	g.s.appendLines(t, time.Now(), failures(a, 2)...)
	waitBanOf(t, 10*time.Second, g.s.socket, "e2e", a)
	if g.bannedAny(t, added) {
		t.Errorf("%s, an address of this host since logjail started, was banned", added)
	}
}
