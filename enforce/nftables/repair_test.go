package nftables

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
)

// nftCmd runs the nft binary in the namespace: another program changing
// logjail's table. It skips without nft, except with CI=true, where it fails.
func nftCmd(t *testing.T, ns *netns, args ...string) {
	t.Helper()
	testkit.NeedRoot(t, "nft")
	var out []byte
	var err error
	ns.Do(func() { out, err = exec.Command("nft", args...).CombinedOutput() })
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// rebuildChain recreates chain input as another program could, with the
// given hook and priority and logjail's own rules in it.
func rebuildChain(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec, hook *nft.ChainHook, prio nft.ChainPriority) {
	t.Helper()
	c := ns.conn(t)
	old := f.chainRef(chainSpec{HookInput, nft.ChainHookInput})
	c.FlushChain(old)
	c.DelChain(old)
	ch := f.chainRef(chainSpec{HookInput, hook})
	ch.Priority = nft.ChainPriorityRef(prio)
	c.AddChain(ch)
	for _, k := range setKinds {
		if err := f.addRule(c, ch, f.setRef(spec.Name, k), spec, k.v6); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// tableChange is a change another program makes to logjail's table, and
// what Check's error says about it.
type tableChange struct {
	name   string
	change func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec)
	want   string // in Check's error
}

// nftChange is a change made with one nft command.
func nftChange(args ...string) func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
	return func(t *testing.T, ns *netns, _ *Firewall, _ PipelineSpec) { nftCmd(t, ns, args...) }
}

// tableChanges is every way of changing the table TestCheckRepairsAnyChange
// plays; one row a change, so it is long.
var tableChanges = []tableChange{
	{"policy drop", nftChange("chain", "inet", "logjail", "input", "{ policy drop ; }"), "chain input: policy not accept"},
	{"priority changed", func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
		rebuildChain(t, ns, f, spec, nft.ChainHookInput, 10)
	}, "chain input changed (type filter hook 1 priority 10"},
	{"hook changed", func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
		rebuildChain(t, ns, f, spec, nft.ChainHookOutput, chainPriority)
	}, "chain input changed (type filter hook 3"},
	{"a rule deleted", deleteFirstRule, "chain input has 3 rules, want 4"},
	{"a rule replaced by an accept rule", replaceRuleByAccept, "chain input: rule 1 (handle"},
	{"set recreated with a default timeout", recreateSetWithTimeout(setKind{}), "set p-v4 changed (type ipv4_addr, flags timeout default-timeout 1s)"},
	{"prefix set recreated with a default timeout", recreateSetWithTimeout(setKind{v6: true, net: true}), "set p-v6-net changed (type ipv6_addr, flags interval timeout default-timeout 1s)"},
	{"prefix set deleted", deleteSet(setKind{net: true}), "set p-v4-net missing"},
	{"address set deleted", deleteSet(setKind{v6: true}), "set p-v6 missing"},
	{"address set recreated as an interval set (the old layout)", recreateAsOldLayout, "set p-v4 changed (type ipv4_addr, flags interval timeout)"},
	{"an accept rule added in logjail's chain", nftChange("insert", "rule", "inet", "logjail", "input", "ip", "saddr", "127.0.0.2", "accept"), "chain input has 5 rules, want 4"},
	{"a chain added to logjail's table", nftChange("add", "chain", "inet", "logjail", "sneak", "{ type filter hook input priority -2 ; policy drop ; }"), "chain sneak is not logjail's"},
	{"added chains, one jumping to the other", func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
		// Listed first, the jump target can go only once the rule
		// jumping to it is flushed.
		nftCmd(t, ns, "add", "chain", "inet", "logjail", "target")
		nftCmd(t, ns, "add", "rule", "inet", "logjail", "target", "accept")
		nftCmd(t, ns, "add", "chain", "inet", "logjail", "sneak", "{ type filter hook input priority -2 ; }")
		nftCmd(t, ns, "add", "rule", "inet", "logjail", "sneak", "jump", "target")
	}, "chain target is not logjail's"},
	{"a set added to logjail's table", nftChange("add", "set", "inet", "logjail", "extra", "{ type ipv4_addr ; }"), "set extra is not logjail's"},
	{"a counter added to logjail's table", nftChange("add", "counter", "inet", "logjail", "seen"), "object seen is not logjail's"},
	{"table dormant", nftChange("add", "table", "inet", "logjail", "{ flags dormant ; }"), "table flags 0x1"},
}

// inputRules lists the rules of logjail's input chain.
func inputRules(t *testing.T, c *nft.Conn, f *Firewall) []*nft.Rule {
	t.Helper()
	rules, err := c.GetRules(f.tableRef(), f.chainRef(chainSpec{HookInput, nft.ChainHookInput}))
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func deleteFirstRule(t *testing.T, ns *netns, f *Firewall, _ PipelineSpec) {
	c := ns.conn(t)
	if err := c.DelRule(inputRules(t, c, f)[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

func replaceRuleByAccept(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
	c := ns.conn(t)
	r := inputRules(t, c, f)[0]
	if err := c.DelRule(r); err != nil {
		t.Fatal(err)
	}
	// The same rule with the same comment, accepting: only its
	// verdict tells it apart.
	exprs := ruleExprs(spec, false, f.setRef(spec.Name, setKind{}), nil)
	exprs[len(exprs)-1] = &expr.Verdict{Kind: expr.VerdictAccept}
	c.InsertRule(&nft.Rule{Table: r.Table, Chain: r.Chain, Exprs: exprs, UserData: r.UserData})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// recreateSetWithTimeout gives the set of kind k a default timeout,
// which would end the permanent bans.
func recreateSetWithTimeout(k setKind) func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
	return func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
		set := f.setRef(spec.Name, k)
		set.Timeout = time.Second
		replaceSet(t, ns, f, spec, k, set)
	}
}

// recreateAsOldLayout gives the IPv4 address set the interval flag, as
// logjail's sets had before single addresses moved to hash sets.
func recreateAsOldLayout(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
	set := f.setRef(spec.Name, setKind{})
	set.Interval = true
	replaceSet(t, ns, f, spec, setKind{}, set)
}

// replaceSet replaces the set of kind k by set, empty, with logjail's
// rules rewritten to use it.
func replaceSet(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec, k setKind, set *nft.Set) {
	t.Helper()
	c := ns.conn(t)
	ch := f.chainRef(chainSpec{HookInput, nft.ChainHookInput})
	c.FlushChain(ch)
	c.DelSet(f.setRef(spec.Name, k))
	if err := c.AddSet(set, nil); err != nil {
		t.Fatal(err)
	}
	for _, rk := range setKinds {
		s := f.setRef(spec.Name, rk)
		if rk == k {
			s = set
		}
		if err := f.addRule(c, ch, s, spec, rk.v6); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// deleteSet deletes the set of kind k with the rules using it.
func deleteSet(k setKind) func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
	return func(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec) {
		c := ns.conn(t)
		name := f.setRef(spec.Name, k).Name
		for _, r := range inputRules(t, c, f) {
			for _, e := range r.Exprs {
				if l, ok := e.(*expr.Lookup); ok && l.SetName == name {
					if err := c.DelRule(r); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		c.DelSet(f.setRef(spec.Name, k))
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckRepairsAnyChange plays another program changing logjail's table
// in each way it can: Check names the change, Setup and Reconcile restore
// the exact layout and every ban, and traffic shows it: the banned address
// is dropped again, a bystander connects.
func TestCheckRepairsAnyChange(t *testing.T) {
	for _, tc := range tableChanges {
		t.Run(tc.name, func(t *testing.T) { checkRepair(t, tc) })
	}
}

func checkRepair(t *testing.T, tc tableChange) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	ctx := context.Background()
	ln := ns.listen(t)
	// Two ports: the rules hold an anonymous port set.
	spec := PipelineSpec{Name: "p", Ports: []uint16{uint16(ln.Addr().(*net.TCPAddr).Port), 9}}
	setup(t, f, spec)
	now := time.Now()
	active := []state.Decision{
		decision("p", "127.0.0.2/32", time.Hour),
		decision("p", "192.0.2.0/24", 0), // permanent
		decision("p", "2001:db8::/64", time.Hour),
	}
	if err := f.Reconcile(ctx, "p", active, now); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Fatalf("Check after Setup: %v", err)
	}
	want, _ := layout(t, ns, DefaultTable)
	wantElems, err := f.Elements("p")
	if err != nil {
		t.Fatal(err)
	}

	tc.change(t, ns, f, spec)
	err = f.Check(ctx)
	if !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), tc.want) {
		t.Fatalf("Check after the change: %v\nwant ErrLayout with %q", err, tc.want)
	}

	setup(t, f, spec)
	if err := f.Reconcile(ctx, "p", active, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err != nil {
		t.Errorf("Check after the repair: %v", err)
	}
	if got, _ := layout(t, ns, DefaultTable); got.String() != want.String() {
		t.Errorf("repaired layout:\n%s\nwant:\n%s", got, want)
	}
	checkRepairedElements(t, f, wantElems)
	if got := dial(t, ns, "127.0.0.2", ln.Addr()); got != timedOut {
		t.Errorf("banned 127.0.0.2 after the repair: %s, want %s", got, timedOut)
	}
	if got := dial(t, ns, "127.0.0.3", ln.Addr()); got != connected {
		t.Errorf("bystander 127.0.0.3 after the repair: %s, want %s", got, connected)
	}
}

// checkRepairedElements compares pipeline p's set elements with those
// before the change: the same prefixes, permanent or not alike.
func checkRepairedElements(t *testing.T, f *Firewall, wantElems []Element) {
	t.Helper()
	gotElems, err := f.Elements("p")
	if err != nil {
		t.Fatal(err)
	}
	if len(gotElems) != len(wantElems) {
		t.Errorf("elements after the repair %v, want %v", gotElems, wantElems)
	}
	for i := range min(len(gotElems), len(wantElems)) {
		g, w := gotElems[i], wantElems[i]
		if g.Prefix != w.Prefix || (w.Expires == 0) != (g.Expires == 0) {
			t.Errorf("element %d after the repair: %v, want %v", i, g, w)
		}
	}
}
