// Package nftables enforces bans in the kernel firewall. logjail owns one inet
// table (default "logjail"); each pipeline gets, per family, a hash set for
// single addresses and an interval set for prefixes, whose elements carry
// their remaining ban time, so the kernel lifts bans on time even while
// logjail is stopped. Single addresses live in a hash set because the
// kernel's interval sets slow down as they grow (100k elements: 90 s into an
// interval set, 3.8 s into a hash set). The layout:
//
//	table inet logjail {
//		set sshd-v4 { type ipv4_addr; flags timeout; }
//		set sshd-v4-net { type ipv4_addr; flags interval,timeout; }
//		set sshd-v6 { type ipv6_addr; flags timeout; }
//		set sshd-v6-net { type ipv6_addr; flags interval,timeout; }
//		chain input { type filter hook input priority -1; policy accept;
//			meta nfproto ipv4 ip saddr @sshd-v4 meta l4proto tcp th dport 22 drop
//			meta nfproto ipv4 ip saddr @sshd-v4-net meta l4proto tcp th dport 22 drop
//			meta nfproto ipv6 ip6 saddr @sshd-v6 meta l4proto tcp th dport 22 drop
//			meta nfproto ipv6 ip6 saddr @sshd-v6-net meta l4proto tcp th dport 22 drop
//		}
//		chain forward { ... } # only when a pipeline hooks "forward"
//	}
//
// The table is logjail's alone: Check reports anything in it that differs
// from this layout, and Setup restores it exactly.
//
// It talks netlink through github.com/google/nftables and never runs nft.
package nftables

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// DefaultTable is the inet table logjail owns when Options.Table is empty.
const DefaultTable = "logjail"

// chainPriority runs logjail's chains just before the host's own filter
// chains (priority 0), so a ban wins over the host's accept rules.
const chainPriority nft.ChainPriority = -1

// opTimeout bounds one netlink exchange when the context has no deadline, so a
// lost kernel reply cannot hang the caller forever.
const opTimeout = 30 * time.Second

// maxPorts bounds PipelineSpec.Ports: the port set travels in one netlink
// attribute, whose length is 16 bits.
const maxPorts = 1000

// Hook names accepted in PipelineSpec.Hooks.
const (
	HookInput   = "input"
	HookForward = "forward"
)

// ErrLayout is wrapped by Check's error when the kernel no longer holds
// exactly the layout of the last Setup (someone flushed the ruleset, deleted
// the table, or changed or added anything in it).
var ErrLayout = errors.New("nftables layout missing or changed")

// mu serializes all kernel work of the package: a Firewall's batches must not
// interleave, and the nftables library allocates set IDs from an unguarded
// package global, so even separate Firewalls must not build batches at once.
var mu sync.Mutex

// PipelineSpec is how one pipeline's bans are enforced.
type PipelineSpec struct {
	// Name names the sets (<Name>-v4, <Name>-v6 for addresses, <Name>-v4-net,
	// <Name>-v6-net for prefixes) and is the rules' comment.
	Name string
	// Ports limits bans to these destination ports; empty bans all traffic.
	Ports []uint16
	// Protocol of Ports: "tcp" (default) or "udp". Unused without Ports.
	Protocol string
	// Reject answers banned packets with ICMP port unreachable (a client
	// fails at once) instead of dropping them silently.
	Reject bool
	// Hooks are where bans apply: "input" (default), "forward" (containers
	// with published ports, hosts behind a gateway), or both.
	Hooks []string
}

// Options configures New.
type Options struct {
	// Table is the inet table's name; DefaultTable when empty.
	Table string
	// NetNSFd is an open network namespace to work in; 0 is the current
	// one. For tests, which must not touch the host's ruleset.
	NetNSFd int
}

// Firewall is the nftables Enforcer. It holds no kernel resources between
// calls: every operation opens its own netlink socket. Safe for concurrent use.
type Firewall struct {
	table string
	netns int
	specs []PipelineSpec // of the last successful Setup, for Check; guarded by mu
	// clean says the ruleset's generation was cleanGen when Check last
	// found the table as Setup built it; guarded by mu.
	clean    bool
	cleanGen uint32

	// connect replaces conn in tests that inspect the netlink messages.
	connect func(context.Context) (*nft.Conn, error)
}

// New returns a Firewall for opts. It does not touch the kernel; Setup does.
func New(opts Options) (*Firewall, error) {
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if err := checkName("table", opts.Table); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	if opts.NetNSFd < 0 {
		return nil, fmt.Errorf("nftables: bad netns fd %d", opts.NetNSFd)
	}
	return &Firewall{table: opts.Table, netns: opts.NetNSFd}, nil
}

// Close releases nothing in the kernel: the table and its bans stay in place
// when logjail stops, so bans keep running out on time.
func (f *Firewall) Close() error { return nil }

// Table returns the name of the inet table the Firewall owns.
func (f *Firewall) Table() string { return f.table }

// SetNames returns the names of pipeline's IPv4 and IPv6 sets of single
// addresses.
func SetNames(pipeline string) (v4, v6 string) { return pipeline + "-v4", pipeline + "-v6" }

// PrefixSetNames returns the names of pipeline's IPv4 and IPv6 sets of
// prefixes (anything shorter than one address).
func PrefixSetNames(pipeline string) (v4, v6 string) {
	v4, v6 = SetNames(pipeline)
	return netSetName(v4), netSetName(v6)
}

// netSetName is the name of the prefix set beside the address set named addrSet.
func netSetName(addrSet string) string { return addrSet + "-net" }

// setKind is one of a pipeline's four sets: a family, and whether it holds
// prefixes (an interval set) or single addresses (a hash set).
type setKind struct{ v6, net bool }

// setKinds are a pipeline's sets in the order of its rules.
var setKinds = []setKind{{false, false}, {false, true}, {true, false}, {true, true}}

// kindOf is the set a normalized prefix belongs in: an address (/32, /128)
// in the family's hash set, anything shorter in its interval set.
func kindOf(p netip.Prefix) setKind { return setKind{v6: p.Addr().Is6(), net: !p.IsSingleIP()} }

// conn opens a batch context with a deadline from ctx. Error acks carry no
// copy of the failed message, so a failed large batch cannot overflow the
// receive buffer. (Extended acks stay off: the netlink package misparses
// them together with capped acks, and nf_tables rarely sends a text.)
func (f *Firewall) conn(ctx context.Context) (*nft.Conn, error) { return f.dial(ctx, false) }

// listConn is conn for listing a set's elements, whose dumps come in large
// messages (see widenDumps).
func (f *Firewall) listConn(ctx context.Context) (*nft.Conn, error) { return f.dial(ctx, true) }

func (f *Firewall) dial(ctx context.Context, wide bool) (*nft.Conn, error) {
	if f.connect != nil {
		return f.connect(ctx)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(opTimeout)
	}
	return nft.New(nft.WithNetNSFd(f.netns), nft.WithSockOptions(func(c *netlink.Conn) error {
		_ = c.SetOption(netlink.CapAcknowledge, true)
		if err := c.SetDeadline(deadline); err != nil {
			return err
		}
		if wide {
			_ = widenDumps(c) // without, dumps are slower, not wrong
		}
		return nil
	}))
}

func (f *Firewall) tableRef() *nft.Table {
	return &nft.Table{Name: f.table, Family: nft.TableFamilyINet}
}

// setRef describes one of pipeline's sets as Setup creates it.
func (f *Firewall) setRef(pipeline string, k setKind) *nft.Set {
	v4name, v6name := SetNames(pipeline)
	if k.net {
		v4name, v6name = PrefixSetNames(pipeline)
	}
	s := &nft.Set{
		Table:      f.tableRef(),
		Name:       v4name,
		KeyType:    nft.TypeIPAddr,
		Interval:   k.net,
		HasTimeout: true,
		Comment:    "logjail pipeline " + pipeline,
	}
	if k.v6 {
		s.Name, s.KeyType = v6name, nft.TypeIP6Addr
	}
	return s
}

// normalizeSpecs validates specs and returns copies with defaults filled in
// and ports sorted and deduplicated.
func normalizeSpecs(specs []PipelineSpec) ([]PipelineSpec, error) {
	out := make([]PipelineSpec, 0, len(specs))
	seen := map[string]bool{}
	for _, s := range specs {
		if err := checkName("pipeline", s.Name); err != nil {
			return nil, err
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("pipeline %q configured twice", s.Name)
		}
		seen[s.Name] = true
		switch s.Protocol {
		case "":
			s.Protocol = "tcp"
		case "tcp", "udp":
		default:
			return nil, fmt.Errorf("pipeline %q: protocol %q: want tcp or udp", s.Name, s.Protocol)
		}
		s.Ports = slices.Clone(s.Ports)
		slices.Sort(s.Ports)
		s.Ports = slices.Compact(s.Ports)
		if len(s.Ports) > maxPorts {
			return nil, fmt.Errorf("pipeline %q: %d ports, at most %d (or none for all ports)", s.Name, len(s.Ports), maxPorts)
		}
		if len(s.Ports) > 0 && s.Ports[0] == 0 {
			return nil, fmt.Errorf("pipeline %q: port 0", s.Name)
		}
		hooks := []string{}
		for _, h := range s.Hooks {
			if h != HookInput && h != HookForward {
				return nil, fmt.Errorf("pipeline %q: hook %q: want input or forward", s.Name, h)
			}
			if !slices.Contains(hooks, h) {
				hooks = append(hooks, h)
			}
		}
		if len(hooks) == 0 {
			hooks = []string{HookInput}
		}
		slices.Sort(hooks) // "forward" < "input": a stable rule order
		s.Hooks = hooks
		out = append(out, s)
	}
	return out, nil
}

// checkName keeps names printable and short enough for the kernel's set
// names (<name>-v4-net within NFT_NAME_MAXLEN) and for `nft list` output.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s name", what)
	}
	if len(name) > 200 {
		return fmt.Errorf("%s name %.20q... longer than 200 bytes", what, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.", r)) {
			return fmt.Errorf("%s name %q: only letters, digits, '_', '-' and '.' are allowed", what, name)
		}
	}
	return nil
}

// chainSpec is a chain of the layout.
type chainSpec struct {
	name string
	hook *nft.ChainHook
}

// wantedChains lists the chains specs need: input always (so the table has
// its familiar shape even without pipelines), forward only when used.
func wantedChains(specs []PipelineSpec) []chainSpec {
	chains := []chainSpec{{HookInput, nft.ChainHookInput}}
	for _, s := range specs {
		if slices.Contains(s.Hooks, HookForward) {
			return append(chains, chainSpec{HookForward, nft.ChainHookForward})
		}
	}
	return chains
}

func (f *Firewall) chainRef(c chainSpec) *nft.Chain {
	policy := nft.ChainPolicyAccept
	return &nft.Chain{
		Name:     c.name,
		Table:    f.tableRef(),
		Type:     nft.ChainTypeFilter,
		Hooknum:  c.hook,
		Priority: nft.ChainPriorityRef(chainPriority),
		Policy:   &policy,
	}
}

// sameBaseChain reports whether an existing chain has the type, hook and
// priority of want; those cannot be changed in place.
func sameBaseChain(have *nft.Chain, want chainSpec) bool {
	return have.Type == nft.ChainTypeFilter &&
		have.Hooknum != nil && *have.Hooknum == *want.hook &&
		have.Priority != nil && *have.Priority == chainPriority
}

// sameSet reports whether an existing set is exactly what Setup creates: a
// set of another shape (an older layout, one recreated by hand with other
// flags, a default timeout that would end permanent bans, a size limit) is
// recreated.
func sameSet(have, want *nft.Set) bool {
	return have.KeyType.Name == want.KeyType.Name && have.KeyType.Bytes == want.KeyType.Bytes &&
		have.Interval == want.Interval && have.HasTimeout && have.Timeout == 0 && have.Size == 0 &&
		!have.IsMap && !have.Constant && !have.Anonymous && !have.Concatenation &&
		!have.Dynamic && !have.AutoMerge && !have.Counter && have.DataType.Name == "" && have.DataType.Bytes == 0
}

// state lists what the table holds now; table is nil without the table.
func (f *Firewall) state(c *nft.Conn) (table *nft.Table, chains []*nft.Chain, sets []*nft.Set, err error) {
	tables, err := c.ListTablesOfFamily(nft.TableFamilyINet)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == f.table {
			table = t
		}
	}
	if table == nil {
		return nil, nil, nil, nil
	}
	all, err := c.ListChainsOfTableFamily(nft.TableFamilyINet)
	if err != nil {
		return table, nil, nil, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range all {
		if ch.Table != nil && ch.Table.Name == f.table {
			chains = append(chains, ch)
		}
	}
	got, err := c.GetSets(f.tableRef())
	if err != nil {
		return table, nil, nil, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range got {
		// Anonymous sets (rule port lists) belong to their rules and go
		// with them.
		if !s.Anonymous && !strings.HasPrefix(s.Name, "__") {
			sets = append(sets, s)
		}
	}
	return table, chains, sets, nil
}

// objects lists the table's stateful objects (none of them logjail's).
// An error listing them lists none: an object no rule uses does nothing,
// and every rule is checked.
func (f *Firewall) objects(c *nft.Conn) []nft.Obj {
	objs, err := c.GetNamedObjects(f.tableRef())
	if err != nil {
		return nil
	}
	var out []nft.Obj
	for _, o := range objs {
		// The dump is asked for this table; never touch another's.
		if n, ok := o.(*nft.NamedObj); ok && n.Table != nil && n.Table.Name == f.table {
			out = append(out, o)
		}
	}
	return out
}

// Setup makes the table hold exactly the layout for specs, in one atomic
// batch, so there is no moment without protection: it creates the table and
// chains, flushes the chains and re-adds every rule, creates missing sets and
// keeps existing sets with their elements, and deletes sets and chains that
// specs no longer need (the table is logjail's alone). A set of an
// incompatible shape is recreated empty; Reconcile refills it. An address
// set of the earlier layout (interval flag) is recreated too, but its bans
// move into the new sets right after the batch (see carriedBans); when
// some cannot, the error is ErrNotCarried and the layout is in place.
// Calling Setup twice yields the same ruleset.
func (f *Firewall) Setup(ctx context.Context, specs []PipelineSpec) error {
	specs, err := normalizeSpecs(specs)
	if err != nil {
		return fmt.Errorf("nftables: setup: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	c, err := f.conn(ctx)
	if err != nil {
		return fmt.Errorf("nftables: setup table %s: %w", f.table, err)
	}
	_, haveChains, haveSets, err := f.state(c)
	if err != nil {
		return fmt.Errorf("nftables: setup table %s: %w", f.table, err)
	}
	carry := f.carriedBans(ctx, haveSets, f.wantedSets(specs))

	c.AddTable(f.tableRef()) // with flags 0: a dormant table wakes up

	chains := f.setupChains(c, haveChains, specs)

	// Stateful objects (counters, quotas, limits...) are never logjail's;
	// the flush above released the rules using them. Objects the library
	// cannot read are left: without a rule they do nothing.
	for _, o := range f.objects(c) {
		c.DeleteObject(o)
	}

	// Sets: the flush above released their rules, so unwanted ones can go.
	sets, err := f.setupSets(c, haveSets, specs)
	if err != nil {
		return err
	}

	// Rules: per pipeline, hook and set, in spec order.
	for _, s := range specs {
		for _, hook := range s.Hooks {
			for _, k := range setKinds {
				ref := f.setRef(s.Name, k)
				if err := f.addRule(c, chains[hook], sets[ref.Name], s, k.v6); err != nil {
					return fmt.Errorf("nftables: setup pipeline %q: rule in %s for %s: %w", s.Name, hook, ref.Name, err)
				}
			}
		}
	}

	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: setup table %s (pipelines %s): %w", f.table, specNames(specs), cause(err))
	}
	f.specs, f.clean = specs, false // a new layout is checked in full
	return f.restoreCarried(ctx, carry)
}

// setupChains flushes every chain of the table (the rules come back in
// the same batch), drops the ones no longer wanted or of the wrong shape
// (once no rule of another chain jumps to them) and (re)declares the
// wanted: declaring an existing chain sets its policy back to accept.
func (f *Firewall) setupChains(c *nft.Conn, have []*nft.Chain, specs []PipelineSpec) map[string]*nft.Chain {
	want := wantedChains(specs)
	for _, ch := range have {
		c.FlushChain(ch)
	}
	for _, ch := range have {
		i := slices.IndexFunc(want, func(w chainSpec) bool { return w.name == ch.Name })
		if i < 0 || !sameBaseChain(ch, want[i]) {
			c.DelChain(ch)
		}
	}
	chains := map[string]*nft.Chain{}
	for _, w := range want {
		chains[w.name] = c.AddChain(f.chainRef(w))
	}
	return chains
}

// wantedSets are the sets of specs, by name.
func (f *Firewall) wantedSets(specs []PipelineSpec) map[string]*nft.Set {
	sets := map[string]*nft.Set{}
	for _, s := range specs {
		for _, k := range setKinds {
			ref := f.setRef(s.Name, k)
			sets[ref.Name] = ref
		}
	}
	return sets
}

// setupSets keeps the sets of specs that exist in the right shape, with
// their elements, deletes the others and adds the missing ones empty.
func (f *Firewall) setupSets(c *nft.Conn, have []*nft.Set, specs []PipelineSpec) (map[string]*nft.Set, error) {
	sets := f.wantedSets(specs)
	existing := map[string]bool{}
	for _, h := range have {
		if ref, ok := sets[h.Name]; ok && sameSet(h, ref) {
			existing[h.Name] = true
			continue
		}
		c.DelSet(h)
	}
	for _, s := range specs {
		for _, k := range setKinds {
			ref := sets[f.setRef(s.Name, k).Name]
			if existing[ref.Name] {
				continue
			}
			if err := c.AddSet(ref, nil); err != nil {
				return nil, fmt.Errorf("nftables: setup pipeline %q: set %s: %w", s.Name, ref.Name, err)
			}
		}
	}
	return sets, nil
}

// cause reduces a failed batch's error to the kernel's first complaint:
// the library joins one error per message, and messages after the failing
// one often fail only because of it.
func cause(err error) error {
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		return oe
	}
	return err
}

func specNames(specs []PipelineSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return "[" + strings.Join(names, " ") + "]"
}

// ruleComment is the rule's comment (nft shows it as `comment "..."`).
func ruleComment(pipeline string) string { return "logjail pipeline " + pipeline }

// addRule queues `meta nfproto ipvX ip(6) saddr @set [meta l4proto P th dport
// {ports}] drop|reject` into chain.
func (f *Firewall) addRule(c *nft.Conn, chain *nft.Chain, set *nft.Set, s PipelineSpec, v6 bool) error {
	var ports *nft.Set
	if len(s.Ports) > 1 {
		// An anonymous set is bound to exactly one rule, so each rule gets
		// its own; flushing the rule frees it.
		ports = &nft.Set{Table: chain.Table, Anonymous: true, Constant: true, KeyType: nft.TypeInetService}
		elems := make([]nft.SetElement, len(s.Ports))
		for i, p := range s.Ports {
			elems[i] = nft.SetElement{Key: binaryutil.BigEndian.PutUint16(p)}
		}
		if err := c.AddSet(ports, elems); err != nil {
			return err
		}
	}
	c.AddRule(&nft.Rule{
		Table:    chain.Table,
		Chain:    chain,
		Exprs:    ruleExprs(s, v6, set, ports),
		UserData: ruleUserData(s.Name),
	})
	return nil
}

func ruleUserData(pipeline string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, ruleComment(pipeline))
}

// ruleExprs are the expressions of pipeline s's rule for one family; ports
// is the anonymous set of s.Ports when there are several.
func ruleExprs(s PipelineSpec, v6 bool, set, ports *nft.Set) []expr.Any {
	proto, offset, length := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if v6 {
		proto, offset, length = unix.NFPROTO_IPV6, 8, 16
	}
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: length},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
	}
	if len(s.Ports) > 0 {
		l4 := byte(unix.IPPROTO_TCP)
		if s.Protocol == "udp" {
			l4 = unix.IPPROTO_UDP
		}
		exprs = append(exprs,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		)
		if ports == nil {
			exprs = append(exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(s.Ports[0])})
		} else {
			exprs = append(exprs, &expr.Lookup{SourceRegister: 1, SetName: ports.Name, SetID: ports.ID})
		}
	}
	if s.Reject {
		exprs = append(exprs, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})
	} else {
		exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
	}
	return exprs
}
