package nftables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
)

// slack is how much of a ban's time may pass between Ban and the kernel
// listing, even on a slow, race-instrumented run.
const slack = 30 * time.Second

// snapshot is the table as the kernel reports it, in nft-like words.
type snapshot struct {
	Chains map[string]string   // name → "filter hook 1 prio -1 policy accept"
	Sets   map[string]string   // name → "ipv4_addr interval timeout"
	Rules  map[string][]string // chain → rules
}

func (s snapshot) String() string {
	var b strings.Builder
	for _, c := range sortedKeys(s.Chains) {
		fmt.Fprintf(&b, "chain %s: %s\n", c, s.Chains[c])
		for _, r := range s.Rules[c] {
			fmt.Fprintf(&b, "\t%s\n", r)
		}
	}
	for _, n := range sortedKeys(s.Sets) {
		fmt.Fprintf(&b, "set %s: %s\n", n, s.Sets[n])
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// layout reads table inet <table> from the namespace; ok is false without it.
func layout(t *testing.T, ns *netns, table string) (snap snapshot, ok bool) {
	t.Helper()
	c := ns.conn(t)
	tables, err := c.ListTablesOfFamily(nft.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(tables, func(tb *nft.Table) bool { return tb.Name == table }) {
		return snap, false
	}
	tb := &nft.Table{Name: table, Family: nft.TableFamilyINet}
	snap = snapshot{Chains: map[string]string{}, Sets: map[string]string{}, Rules: map[string][]string{}}
	chains, err := c.ListChainsOfTableFamily(nft.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chains {
		if ch.Table.Name != table {
			continue
		}
		desc := string(ch.Type)
		if ch.Hooknum != nil {
			desc += fmt.Sprintf(" hook %d prio %d", *ch.Hooknum, *ch.Priority)
		}
		if ch.Policy != nil {
			desc += map[nft.ChainPolicy]string{nft.ChainPolicyAccept: " policy accept", nft.ChainPolicyDrop: " policy drop"}[*ch.Policy]
		}
		snap.Chains[ch.Name] = desc
		rules, err := c.GetRules(tb, ch)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			snap.Rules[ch.Name] = append(snap.Rules[ch.Name], describeRule(t, c, tb, r))
		}
	}
	sets, err := c.GetSets(tb)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		if s.Anonymous {
			continue
		}
		desc := s.KeyType.Name
		if s.Interval {
			desc += " interval"
		}
		if s.HasTimeout {
			desc += " timeout"
		}
		if s.Constant {
			desc += " constant"
		}
		snap.Sets[s.Name] = desc
	}
	return snap, true
}

// describeRule renders the rule shapes logjail writes in nft's words, with
// the comment; anonymous port sets are shown by their elements.
func describeRule(t *testing.T, c *nft.Conn, tb *nft.Table, r *nft.Rule) string {
	t.Helper()
	var parts []string
	var last string // what the register holds
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Meta:
			last = map[expr.MetaKey]string{expr.MetaKeyNFPROTO: "meta nfproto", expr.MetaKeyL4PROTO: "meta l4proto"}[e.Key]
		case *expr.Payload:
			switch {
			case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == 12 && e.Len == 4:
				last = "ip saddr"
			case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == 8 && e.Len == 16:
				last = "ip6 saddr"
			case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 2 && e.Len == 2:
				last = "th dport"
			default:
				last = fmt.Sprintf("payload(%d,%d,%d)", e.Base, e.Offset, e.Len)
			}
		case *expr.Cmp:
			v := fmt.Sprint(e.Data)
			switch {
			case last == "meta nfproto":
				v = map[byte]string{2: "ipv4", 10: "ipv6"}[e.Data[0]]
			case last == "meta l4proto":
				v = map[byte]string{6: "tcp", 17: "udp"}[e.Data[0]]
			case len(e.Data) == 2:
				v = fmt.Sprint(binaryutil.BigEndian.Uint16(e.Data))
			}
			parts = append(parts, last+" "+v)
		case *expr.Lookup:
			if !strings.HasPrefix(e.SetName, "__set") {
				parts = append(parts, last+" @"+e.SetName)
				break
			}
			elems, err := c.GetSetElements(&nft.Set{Table: tb, Name: e.SetName})
			if err != nil {
				t.Fatal(err)
			}
			var ports []string
			for _, el := range elems {
				ports = append(ports, fmt.Sprint(binaryutil.BigEndian.Uint16(el.Key)))
			}
			slices.Sort(ports)
			parts = append(parts, last+" {"+strings.Join(ports, ",")+"}")
		case *expr.Verdict:
			parts = append(parts, map[expr.VerdictKind]string{expr.VerdictDrop: "drop", expr.VerdictAccept: "accept"}[e.Kind])
		case *expr.Reject:
			parts = append(parts, fmt.Sprintf("reject(%d,%d)", e.Type, e.Code))
		default:
			parts = append(parts, fmt.Sprintf("%T", e))
		}
	}
	if comment, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
		parts = append(parts, fmt.Sprintf("comment %q", comment))
	}
	return strings.Join(parts, " ")
}

// rule is the expected description of one of logjail's rules, for the set
// named pipeline-set ("v4", "v4-net", "v6", "v6-net").
func rule(pipeline, set, ports, verdict string) string {
	s := "meta nfproto ipv4 ip saddr @" + pipeline + "-" + set + " "
	if strings.HasPrefix(set, "v6") {
		s = "meta nfproto ipv6 ip6 saddr @" + pipeline + "-" + set + " "
	}
	if ports != "" {
		s += ports + " "
	}
	return s + verdict + ` comment "logjail pipeline ` + pipeline + `"`
}

// rules are the expected descriptions of a pipeline's four rules of one
// hook: per family, its address set's, then its prefix set's.
func rules(pipeline, ports, verdict string) []string {
	var out []string
	for _, set := range []string{"v4", "v4-net", "v6", "v6-net"} {
		out = append(out, rule(pipeline, set, ports, verdict))
	}
	return out
}

// sets are the expected descriptions of the sets of pipelines.
func sets(pipelines ...string) map[string]string {
	out := map[string]string{}
	for _, p := range pipelines {
		out[p+"-v4"], out[p+"-v4-net"], out[p+"-v6"], out[p+"-v6-net"] = setV4, setV4Net, setV6, setV6Net
	}
	return out
}

const (
	chainInput   = "filter hook 1 prio -1 policy accept"
	chainForward = "filter hook 2 prio -1 policy accept"
	setV4        = "ipv4_addr timeout"
	setV6        = "ipv6_addr timeout"
	setV4Net     = "ipv4_addr interval timeout"
	setV6Net     = "ipv6_addr interval timeout"
	rejectICMPX  = "reject(2,1)" // icmpx port-unreachable
)

func setup(t testing.TB, f *Firewall, specs ...PipelineSpec) {
	t.Helper()
	if err := f.Setup(context.Background(), specs); err != nil {
		t.Fatal(err)
	}
}

func TestSetupLayout(t *testing.T) {
	cases := []struct {
		name  string
		specs []PipelineSpec
		want  snapshot
	}{{
		name:  "one pipeline, one port",
		specs: []PipelineSpec{{Name: "sshd", Ports: []uint16{22}}},
		want: snapshot{
			Chains: map[string]string{"input": chainInput},
			Sets:   sets("sshd"),
			Rules:  map[string][]string{"input": rules("sshd", "meta l4proto tcp th dport 22", "drop")},
		},
	}, {
		name: "forward hook, port sets, reject, all ports",
		specs: []PipelineSpec{
			{Name: "web", Ports: []uint16{443, 80, 443}, Reject: true, Hooks: []string{"input", "forward"}},
			{Name: "gw", Hooks: []string{"forward"}},
		},
		want: snapshot{
			Chains: map[string]string{"input": chainInput, "forward": chainForward},
			Sets:   sets("web", "gw"),
			Rules: map[string][]string{
				"input":   rules("web", "meta l4proto tcp th dport {443,80}", rejectICMPX),
				"forward": append(rules("web", "meta l4proto tcp th dport {443,80}", rejectICMPX), rules("gw", "", "drop")...),
			},
		},
	}, {
		name:  "udp",
		specs: []PipelineSpec{{Name: "dns", Ports: []uint16{53}, Protocol: "udp"}},
		want: snapshot{
			Chains: map[string]string{"input": chainInput},
			Sets:   sets("dns"),
			Rules:  map[string][]string{"input": rules("dns", "meta l4proto udp th dport 53", "drop")},
		},
	}, {
		name: "no pipelines",
		want: snapshot{Chains: map[string]string{"input": chainInput}, Sets: map[string]string{}, Rules: map[string][]string{}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNetNS(t)
			f := ns.firewall(t)
			setup(t, f, tc.specs...)
			got, ok := layout(t, ns, DefaultTable)
			if !ok {
				t.Fatal("table inet logjail missing")
			}
			if got.String() != tc.want.String() {
				t.Errorf("layout:\n%s\nwant:\n%s", got, tc.want)
			}
			if err := f.Check(context.Background()); err != nil {
				t.Errorf("Check after Setup: %v", err)
			}
		})
	}
}

func TestSetupOtherTable(t *testing.T) {
	ns := newNetNS(t)
	f, err := New(Options{Table: "lj2", NetNSFd: ns.Fd})
	if err != nil {
		t.Fatal(err)
	}
	setup(t, f, PipelineSpec{Name: "sshd"})
	if _, ok := layout(t, ns, DefaultTable); ok {
		t.Error("table logjail created, want only lj2")
	}
	if got, ok := layout(t, ns, "lj2"); !ok || len(got.Sets) != 4 {
		t.Errorf("table lj2: %v %v", ok, got)
	}
}

func TestSetupIdempotentKeepsElements(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	specs := []PipelineSpec{
		{Name: "sshd", Ports: []uint16{22}},
		{Name: "web", Ports: []uint16{80, 443}, Reject: true, Hooks: []string{"forward", "input"}},
	}
	setup(t, f, specs...)
	ban(t, f, "sshd", "192.0.2.1/32", time.Hour)
	ban(t, f, "web", "2001:db8::/64", 0)
	first, _ := layout(t, ns, DefaultTable)
	for range 2 {
		setup(t, f, specs...)
	}
	second, _ := layout(t, ns, DefaultTable)
	if first.String() != second.String() {
		t.Errorf("second Setup changed the layout:\n%s\nwant:\n%s", second, first)
	}
	wantElements(t, f, "sshd", elem("192.0.2.1/32", time.Hour))
	wantElements(t, f, "web", elem("2001:db8::/64", 0))
}

func TestSetupRemoves(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f,
		PipelineSpec{Name: "a", Hooks: []string{"input", "forward"}},
		PipelineSpec{Name: "b", Ports: []uint16{25, 587}},
	)
	ban(t, f, "a", "192.0.2.1/32", time.Hour)
	ban(t, f, "b", "192.0.2.2/32", time.Hour)

	// Things only another program would add; the table is logjail's.
	c := ns.conn(t)
	tb := &nft.Table{Name: DefaultTable, Family: nft.TableFamilyINet}
	c.AddChain(&nft.Chain{Name: "junk", Table: tb})
	if err := c.AddSet(&nft.Set{Table: tb, Name: "stray", KeyType: nft.TypeIPAddr}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}

	setup(t, f, PipelineSpec{Name: "a"})
	got, _ := layout(t, ns, DefaultTable)
	want := snapshot{
		Chains: map[string]string{"input": chainInput},
		Sets:   sets("a"),
		Rules:  map[string][]string{"input": rules("a", "", "drop")},
	}
	if got.String() != want.String() {
		t.Errorf("layout:\n%s\nwant:\n%s", got, want)
	}
	wantElements(t, f, "a", elem("192.0.2.1/32", time.Hour))
	if _, err := f.Elements("b"); err == nil {
		t.Error("Elements of removed pipeline b: no error")
	}
}

func TestSetupRecreatesIncompatibleSet(t *testing.T) {
	ns := newNetNS(t)
	c := ns.conn(t)
	tb := c.AddTable(&nft.Table{Name: DefaultTable, Family: nft.TableFamilyINet})
	old := &nft.Set{Table: tb, Name: "sshd-v4", KeyType: nft.TypeIPAddr}
	if err := c.AddSet(old, []nft.SetElement{{Key: []byte{192, 0, 2, 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "sshd"})
	got, _ := layout(t, ns, DefaultTable)
	if got.Sets["sshd-v4"] != setV4 {
		t.Errorf("set sshd-v4 is %q, want %q", got.Sets["sshd-v4"], setV4)
	}
	wantElements(t, f, "sshd")
}

func TestSetupInvalid(t *testing.T) {
	cases := []struct {
		name string
		spec []PipelineSpec
		want string
	}{
		{"empty name", []PipelineSpec{{}}, "empty pipeline name"},
		{"bad name", []PipelineSpec{{Name: "a b"}}, `"a b"`},
		{"twice", []PipelineSpec{{Name: "a"}, {Name: "a"}}, "twice"},
		{"protocol", []PipelineSpec{{Name: "a", Protocol: "sctp", Ports: []uint16{1}}}, "sctp"},
		{"hook", []PipelineSpec{{Name: "a", Hooks: []string{"output"}}}, "output"},
		{"port 0", []PipelineSpec{{Name: "a", Ports: []uint16{0}}}, "port 0"},
	}
	f, err := New(Options{NetNSFd: -1})
	if err == nil {
		t.Fatal("New with netns fd -1: no error")
	}
	// Validation fails before any kernel access; this Firewall would act in
	// the host's namespace, so a missing check would show as a changed host.
	f, err = New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := f.Setup(context.Background(), tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Setup: %v, want error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(Options{Table: "no spaces"}); err == nil {
		t.Error(`New(Table "no spaces"): no error`)
	}
}

// decision is a ban of p in pipeline for d (permanent when d is 0), or
// already over when d is negative.
func decision(pipeline, p string, d time.Duration) state.Decision {
	dec := state.Decision{Kind: state.Ban, Pipeline: pipeline, Prefix: netip.MustParsePrefix(p), Time: time.Now()}
	if d != 0 {
		dec.Until = dec.Time.Add(d)
	}
	return dec
}

func ban(t *testing.T, f *Firewall, pipeline, p string, d time.Duration) {
	t.Helper()
	if err := f.Ban(context.Background(), decision(pipeline, p, d)); err != nil {
		t.Fatal(err)
	}
}

func elem(p string, d time.Duration) Element {
	return Element{Prefix: netip.MustParsePrefix(p), Expires: d}
}

// wantElements checks pipeline's kernel elements: prefixes exactly, and each
// Expires within slack below the wanted time (0: no timeout).
func wantElements(t testing.TB, f *Firewall, pipeline string, want ...Element) {
	t.Helper()
	got, err := f.Elements(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	prefixes := func(es []Element) (ps []string) {
		for _, e := range es {
			ps = append(ps, e.Prefix.String())
		}
		return ps
	}
	if !slices.Equal(prefixes(got), prefixes(want)) {
		t.Fatalf("pipeline %s holds %v, want %v", pipeline, got, want)
	}
	for i, w := range want {
		e := got[i].Expires
		if w.Expires == 0 && e != 0 || w.Expires != 0 && (e > w.Expires || e <= w.Expires-slack) {
			t.Errorf("pipeline %s: %s expires in %v, want %v", pipeline, w.Prefix, e, w.Expires)
		}
	}
}

func TestBan(t *testing.T) {
	cases := []struct {
		name, prefix, want string
		d                  time.Duration
	}{
		{"IPv4 address", "192.0.2.1/32", "192.0.2.1/32", time.Hour},
		{"IPv6 address", "2001:db8::1/128", "2001:db8::1/128", time.Hour},
		{"IPv4-mapped address goes to the v4 set", "::ffff:192.0.2.7/128", "192.0.2.7/32", time.Hour},
		{"IPv4-mapped prefix", "::ffff:198.51.100.0/120", "198.51.100.0/24", time.Hour},
		{"IPv4 prefix is masked", "203.0.113.77/24", "203.0.113.0/24", time.Hour},
		{"IPv6 /64", "2001:db8:1:2::5/64", "2001:db8:1:2::/64", time.Hour},
		{"top IPv4 address", "255.255.255.255/32", "255.255.255.255/32", time.Hour},
		{"top IPv6 prefix", "ffff::/16", "ffff::/16", time.Hour},
		{"lowest IPv4 address", "0.0.0.0/32", "0.0.0.0/32", time.Hour},
		{"permanent", "192.0.2.9/32", "192.0.2.9/32", 0},
		{"200 years", "192.0.2.10/32", "192.0.2.10/32", 200 * 365 * 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNetNS(t)
			f := ns.firewall(t)
			setup(t, f, PipelineSpec{Name: "p"}, PipelineSpec{Name: "other"})
			ban(t, f, "p", tc.prefix, tc.d)
			wantElements(t, f, "p", elem(tc.want, tc.d))
			wantElements(t, f, "other")
		})
	}
}

func TestBanAdjacentAndMany(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	for _, p := range []string{"192.0.2.4/32", "192.0.2.5/32", "192.0.2.6/31", "192.0.2.3/32", "2001:db8::/127", "2001:db8::2/128"} {
		ban(t, f, "p", p, time.Hour)
	}
	wantElements(t, f, "p",
		elem("192.0.2.3/32", time.Hour), elem("192.0.2.4/32", time.Hour), elem("192.0.2.5/32", time.Hour),
		elem("192.0.2.6/31", time.Hour), elem("2001:db8::/127", time.Hour), elem("2001:db8::2/128", time.Hour))
	unban(t, f, "p", "192.0.2.4/32")
	wantElements(t, f, "p",
		elem("192.0.2.3/32", time.Hour), elem("192.0.2.5/32", time.Hour),
		elem("192.0.2.6/31", time.Hour), elem("2001:db8::/127", time.Hour), elem("2001:db8::2/128", time.Hour))
}

func TestBanRefresh(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	steps := []struct {
		prefix string // as banned
		d      time.Duration
	}{
		{"192.0.2.1/32", time.Hour},
		{"192.0.2.1/32", 3 * time.Hour},            // extended
		{"::ffff:192.0.2.1/128", 10 * time.Minute}, // shortened, mapped form
		{"192.0.2.1/32", 0},                        // made permanent
		{"192.0.2.1/32", 5 * time.Minute},          // and back to a timeout
	}
	for _, s := range steps {
		ban(t, f, "p", s.prefix, s.d)
		wantElements(t, f, "p", elem("192.0.2.1/32", s.d))
	}
}

func TestBanOverLiftsBan(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	ban(t, f, "p", "192.0.2.1/32", time.Hour)
	ban(t, f, "p", "192.0.2.1/32", -time.Second)
	ban(t, f, "p", "192.0.2.2/32", -time.Second)
	wantElements(t, f, "p")
}

func TestBanErrors(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	ban(t, f, "p", "10.0.0.0/24", time.Hour)
	cases := []struct {
		name string
		d    state.Decision
		want []string
	}{
		{"unknown pipeline", decision("nope", "192.0.2.1/32", time.Hour), []string{`"nope"`, "nope-v4", "192.0.2.1/32", "Setup"}},
		{"overlap", decision("p", "10.0.0.128/25", time.Hour), []string{`"p"`, "p-v4-net", "10.0.0.128/25", "overlaps"}},
		{"everything", decision("p", "0.0.0.0/0", time.Hour), []string{`"p"`, "0.0.0.0/0"}},
		{"no pipeline", decision("", "192.0.2.1/32", time.Hour), []string{"without pipeline"}},
		{"invalid prefix", state.Decision{Pipeline: "p"}, []string{"invalid prefix"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := f.Ban(context.Background(), tc.d)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	wantElements(t, f, "p", elem("10.0.0.0/24", time.Hour))
}

// unbanDecision is the unban of p in pipeline.
func unbanDecision(pipeline, p string) state.Decision {
	d := decision(pipeline, p, 0)
	d.Kind = state.Unban
	return d
}

func unban(t *testing.T, f *Firewall, pipeline, p string) {
	t.Helper()
	if err := f.Unban(context.Background(), unbanDecision(pipeline, p)); err != nil {
		t.Fatal(err)
	}
}

func TestUnban(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	ban(t, f, "p", "192.0.2.1/32", time.Hour)
	ban(t, f, "p", "192.0.2.2/32", time.Hour)
	ban(t, f, "p", "2001:db8::1/128", 0)
	ban(t, f, "p", "198.51.100.0/24", time.Hour)
	ban(t, f, "p", "255.255.255.255/32", time.Hour)

	unban(t, f, "p", "::ffff:192.0.2.1/128") // mapped form of a v4 ban
	unban(t, f, "p", "2001:db8::1/128")
	unban(t, f, "p", "198.51.100.0/24")
	unban(t, f, "p", "255.255.255.255/32")
	wantElements(t, f, "p", elem("192.0.2.2/32", time.Hour))

	// Absent prefixes, an address inside a banned prefix's neighbour, and
	// an unknown pipeline: nothing to lift, no error.
	unban(t, f, "p", "192.0.2.1/32")
	unban(t, f, "p", "2001:db8::1/128")
	unban(t, f, "p", "192.0.2.0/24")
	unban(t, f, "nope", "192.0.2.2/32")
	wantElements(t, f, "p", elem("192.0.2.2/32", time.Hour))
}

func TestReconcile(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"}, PipelineSpec{Name: "other"})
	ban(t, f, "p", "192.0.2.1/32", time.Hour)     // stale
	ban(t, f, "p", "192.0.2.2/32", time.Hour)     // right
	ban(t, f, "p", "192.0.2.3/32", time.Hour)     // store extended it
	ban(t, f, "p", "192.0.2.4/32", time.Hour)     // store made it permanent
	ban(t, f, "p", "192.0.2.5/32", 0)             // store gave it a timeout
	ban(t, f, "p", "2001:db8::dead/128", 0)       // stale
	ban(t, f, "other", "192.0.2.1/32", time.Hour) // another pipeline: untouched

	now := time.Now()
	at := func(p string, d time.Duration) state.Decision {
		dec := decision("p", p, 0)
		if d != 0 {
			dec.Until = now.Add(d)
		}
		return dec
	}
	active := []state.Decision{
		at("192.0.2.2/32", time.Hour),
		at("192.0.2.3/32", 5*time.Hour),
		at("192.0.2.4/32", 0),
		at("192.0.2.5/32", 2*time.Hour),
		at("198.51.100.0/24", 2*time.Hour),     // missing
		at("2001:db8::1/128", 0),               // missing, permanent
		at("192.0.2.9/32", -time.Minute),       // over: not added
		at("::ffff:192.0.2.10/128", time.Hour), // missing, mapped
		at("192.0.2.10/32", 30*time.Minute),    // duplicate: the longer ban wins
	}
	if err := f.Reconcile(context.Background(), "p", active, now); err != nil {
		t.Fatal(err)
	}
	wantElements(t, f, "p",
		elem("192.0.2.2/32", time.Hour), elem("192.0.2.3/32", 5*time.Hour), elem("192.0.2.4/32", 0),
		elem("192.0.2.5/32", 2*time.Hour), elem("192.0.2.10/32", time.Hour), elem("198.51.100.0/24", 2*time.Hour),
		elem("2001:db8::1/128", 0))
	wantElements(t, f, "other", elem("192.0.2.1/32", time.Hour))

	if err := f.Reconcile(context.Background(), "p", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantElements(t, f, "p")
}

// TestReconcileMany exercises batching: more elements than one batch holds,
// in both families, then a refresh of all of them, then removal of half.
func TestReconcileMany(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	now := time.Now()
	var active []state.Decision
	for i := range 1300 {
		active = append(active,
			decision("p", netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 32).String(), time.Hour),
			decision("p", fmt.Sprintf("2001:db8:%x::/48", i), time.Hour))
	}
	reconcile := func(active []state.Decision, d time.Duration) {
		t.Helper()
		for i := range active {
			active[i].Until = now.Add(d)
		}
		if err := f.Reconcile(context.Background(), "p", active, now); err != nil {
			t.Fatal(err)
		}
		got, err := f.Elements("p")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(active) {
			t.Fatalf("%d elements, want %d", len(got), len(active))
		}
		for _, e := range got {
			if e.Expires > d || e.Expires <= d-slack {
				t.Fatalf("%s expires in %v, want %v", e.Prefix, e.Expires, d)
			}
		}
	}
	reconcile(active, time.Hour)
	reconcile(active, 3*time.Hour) // all refreshed
	reconcile(active[:len(active)/2], 3*time.Hour)
}

func TestReconcilePartialFailure(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	active := []state.Decision{
		decision("p", "192.0.2.1/32", time.Hour),
		decision("p", "10.0.0.0/24", time.Hour),
		decision("p", "10.0.0.128/25", time.Hour), // overlaps 10.0.0.0/24: the kernel refuses it
		decision("p", "2001:db8::1/128", time.Hour),
	}
	err := f.Reconcile(context.Background(), "p", active, time.Now())
	if err == nil || !strings.Contains(err.Error(), "10.0.0.128/25") || strings.Contains(err.Error(), "192.0.2.1") {
		t.Errorf("Reconcile: %v, want an error about 10.0.0.128/25 alone", err)
	}
	wantElements(t, f, "p", elem("10.0.0.0/24", time.Hour), elem("192.0.2.1/32", time.Hour), elem("2001:db8::1/128", time.Hour))
}

// TestReconcileForeignRange: a range no single prefix covers (added by hand)
// is listed as its prefixes and removed by Reconcile.
func TestReconcileForeignRange(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	c := ns.conn(t)
	set := &nft.Set{Table: &nft.Table{Name: DefaultTable, Family: nft.TableFamilyINet}, Name: "p-v4-net", Interval: true, HasTimeout: true}
	if err := c.SetAddElements(set, []nft.SetElement{{Key: []byte{10, 0, 0, 1}}, {Key: []byte{10, 0, 0, 5}, IntervalEnd: true}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	wantElements(t, f, "p", elem("10.0.0.1/32", 0), elem("10.0.0.2/31", 0), elem("10.0.0.4/32", 0))
	if err := f.Reconcile(context.Background(), "p", []state.Decision{decision("p", "10.0.0.2/31", 0)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantElements(t, f, "p", elem("10.0.0.2/31", 0))
}

// TestCheckAndRestore plays another program flushing the ruleset: Check
// notices, Setup and Reconcile restore.
func TestCheckAndRestore(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	ctx := context.Background()
	specs := []PipelineSpec{{Name: "p", Hooks: []string{"input", "forward"}}}
	setup(t, f, specs...)
	ban(t, f, "p", "192.0.2.1/32", time.Hour)
	want, _ := layout(t, ns, DefaultTable)

	c := ns.conn(t)
	c.FlushChain(&nft.Chain{Name: "forward", Table: &nft.Table{Name: DefaultTable, Family: nft.TableFamilyINet}})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "forward") {
		t.Errorf("Check after flushing chain forward: %v", err)
	}

	c.FlushRuleset()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); !errors.Is(err, ErrLayout) {
		t.Errorf("Check after flush ruleset: %v", err)
	}
	setup(t, f, specs...)
	if err := f.Reconcile(ctx, "p", []state.Decision{decision("p", "192.0.2.1/32", time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Errorf("Check after restore: %v", err)
	}
	got, _ := layout(t, ns, DefaultTable)
	if got.String() != want.String() {
		t.Errorf("restored layout:\n%s\nwant:\n%s", got, want)
	}
	wantElements(t, f, "p", elem("192.0.2.1/32", time.Hour))
}

type outcome string

const (
	connected outcome = "connected"
	timedOut  outcome = "timed out"
	refused   outcome = "refused"
)

// dial connects from the local address from to the namespace's listener.
func dial(t *testing.T, ns *netns, from string, to net.Addr) outcome {
	t.Helper()
	var err error
	start := time.Now()
	ns.Do(func() {
		d := net.Dialer{Timeout: 500 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		var c net.Conn
		if c, err = d.Dial("tcp4", to.String()); err == nil {
			c.Close()
		}
	})
	var ne net.Error
	switch {
	case err == nil:
		return connected
	case errors.Is(err, syscall.ECONNREFUSED):
		if took := time.Since(start); took > 400*time.Millisecond {
			t.Errorf("refused only after %v", took)
		}
		return refused
	case errors.As(err, &ne) && ne.Timeout():
		return timedOut
	}
	t.Fatalf("dial from %s: %v", from, err)
	return ""
}

// TestTraffic checks that bans act on packets: loopback connections inside
// the test's namespace, where the input hook sees 127.0.0.x as source.
func TestTraffic(t *testing.T) {
	const other = 9 // a port nobody listens on
	cases := []struct {
		name string
		spec PipelineSpec // Ports == {0} means the listener's port
		ban  string
		want map[string]outcome // source address → outcome
	}{
		{"drop all ports", PipelineSpec{}, "127.0.0.2/32",
			map[string]outcome{"127.0.0.2": timedOut, "127.0.0.3": connected, "127.0.0.1": connected}},
		{"reject", PipelineSpec{Reject: true}, "127.0.0.2/32",
			map[string]outcome{"127.0.0.2": refused, "127.0.0.3": connected}},
		{"the banned port", PipelineSpec{Ports: []uint16{0, other}}, "127.0.0.2/32",
			map[string]outcome{"127.0.0.2": timedOut, "127.0.0.3": connected}},
		{"another port", PipelineSpec{Ports: []uint16{other}}, "127.0.0.2/32",
			map[string]outcome{"127.0.0.2": connected}},
		{"udp ports leave tcp alone", PipelineSpec{Ports: []uint16{0}, Protocol: "udp"}, "127.0.0.2/32",
			map[string]outcome{"127.0.0.2": connected}},
		{"prefix", PipelineSpec{Reject: true}, "127.0.0.4/30", // not .1: the server's replies come from there
			map[string]outcome{"127.0.0.3": connected, "127.0.0.4": refused, "127.0.0.7": refused, "127.0.0.8": connected}},
		{"mapped address", PipelineSpec{Reject: true}, "::ffff:127.0.0.2/128",
			map[string]outcome{"127.0.0.2": refused, "127.0.0.3": connected}},
		{"forward hook only", PipelineSpec{Hooks: []string{"forward"}}, "127.0.0.2/32",
			map[string]outcome{"127.0.0.2": connected}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNetNS(t)
			f := ns.firewall(t)
			ln := ns.listen(t)
			port := uint16(ln.Addr().(*net.TCPAddr).Port)
			spec := tc.spec
			spec.Name = "p"
			spec.Ports = slices.Clone(spec.Ports)
			for i, p := range spec.Ports {
				if p == 0 {
					spec.Ports[i] = port
				}
			}
			setup(t, f, spec)
			for from := range tc.want {
				if got := dial(t, ns, from, ln.Addr()); got != connected {
					t.Fatalf("before the ban, from %s: %s", from, got)
				}
			}
			ban(t, f, "p", tc.ban, time.Hour)
			for _, from := range sortedKeys(tc.want) {
				if got := dial(t, ns, from, ln.Addr()); got != tc.want[from] {
					t.Errorf("from %s: %s, want %s", from, got, tc.want[from])
				}
			}
			unban(t, f, "p", tc.ban)
			for from := range tc.want {
				if got := dial(t, ns, from, ln.Addr()); got != connected {
					t.Errorf("after unban, from %s: %s", from, got)
				}
			}
		})
	}
}

// TestTrafficBanExpires: the kernel lifts a ban by itself.
func TestTrafficBanExpires(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	ln := ns.listen(t)
	setup(t, f, PipelineSpec{Name: "p", Reject: true})
	ban(t, f, "p", "127.0.0.2/32", time.Second)
	if got := dial(t, ns, "127.0.0.2", ln.Addr()); got != refused {
		t.Fatalf("during the ban: %s", got)
	}
	testkit.WaitFor(t, 10*time.Second, func() error {
		got := dial(t, ns, "127.0.0.2", ln.Addr())
		return testkit.Check(got == connected, "the ban is not lifted after it ended: %s", got)
	})
	wantElements(t, f, "p")
}

func TestSpanPrefixes(t *testing.T) {
	a := netip.MustParseAddr
	cases := []struct {
		s    span
		want string
	}{
		{span{start: a("10.0.0.1"), end: a("10.0.0.2")}, "[10.0.0.1/32]"},
		{span{start: a("10.0.0.0"), end: a("10.0.1.0")}, "[10.0.0.0/24]"},
		{span{start: a("10.0.0.1"), end: a("10.0.0.5")}, "[10.0.0.1/32 10.0.0.2/31 10.0.0.4/32]"},
		{span{start: a("255.255.255.0")}, "[255.255.255.0/24]"},
		{span{start: a("0.0.0.0")}, "[0.0.0.0/0]"},
		{span{start: a("2001:db8::1"), end: a("2001:db8::4")}, "[2001:db8::1/128 2001:db8::2/127]"},
		{span{start: a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0")}, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124]"},
		{span{start: a("8000::")}, "[8000::/1]"},
		{span{start: a("10.0.0.5"), end: a("10.0.0.5")}, "[]"},
	}
	for _, tc := range cases {
		ps, _ := tc.s.prefixes()
		if got := fmt.Sprint(ps); got != tc.want {
			t.Errorf("%v-%v: %s, want %s", tc.s.start, tc.s.end, got, tc.want)
		}
	}
}

func TestCeilMS(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		0: 0, -time.Second: 0, time.Nanosecond: time.Millisecond, time.Millisecond: time.Millisecond,
		1500 * time.Microsecond: 2 * time.Millisecond, time.Hour: time.Hour,
	} {
		if got := ceilMS(in); got != want {
			t.Errorf("ceilMS(%v) = %v, want %v", in, got, want)
		}
	}
}

// TestBatchFits checks maxBatch against netlink's limits with the largest
// batch: a refresh of IPv6 prefixes with timeouts, in a long-named set. No
// kernel: the messages are captured.
func TestBatchFits(t *testing.T) {
	f, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []netlink.Message
	f.connect = func(context.Context) (*nft.Conn, error) {
		return nft.New(nft.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
			msgs = append(msgs, req...)
			return nil, io.EOF
		}))
	}
	set := f.setRef(strings.Repeat("x", 200), setKind{v6: true, net: true})
	var items []item
	for i := range maxBatch {
		p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), 127)
		items = append(items, prefixItem(set, p, 200*365*24*time.Hour))
	}
	_ = f.flush(context.Background(), set, opRefresh, items)

	total, lists, largest := 0, 0, 0
	for _, m := range msgs {
		total += 16 + len(m.Data)
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			t.Fatal(err)
		}
		for ad.Next() {
			if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
				continue
			}
			lists++
			largest = max(largest, len(ad.Bytes()))
			n := 0
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					n++
				}
				return nil
			})
			if n != 2*maxBatch {
				t.Errorf("element list of %d bytes decodes to %d elements, want %d", len(ad.Bytes()), n, 2*maxBatch)
			}
			if len(ad.Bytes()) > 60000 {
				t.Errorf("element list of %d bytes, too close to 65535", len(ad.Bytes()))
			}
		}
		if err := ad.Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("largest element list %d bytes, batch %d bytes", largest, total)
	if lists != 3 {
		t.Errorf("%d element lists in a refresh, want 3", lists)
	}
	if total > 180_000 {
		t.Errorf("batch of %d bytes, too close to the 212992-byte send buffer", total)
	}
}
