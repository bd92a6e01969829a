package nftables

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	nft "github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// Check compares the kernel's table with what the last Setup built and
// reports every difference: the table's flags (dormant), each chain's type,
// hook, priority and policy, each rule's expressions (in order), each set's
// key type, flags, default timeout and size, and any chain, rule or set
// another program added to the table. An error wrapping ErrLayout means the
// table differs; Setup and Reconcile restore it and every ban. Elements are
// not compared here (Reconcile does). Check before any Setup only checks
// that the table exists. While the ruleset's generation is the one of the
// last check that found nothing, nothing is listed (see generation).
func (f *Firewall) Check(ctx context.Context) error {
	mu.Lock()
	defer mu.Unlock()
	gen, genErr := uint32(0), errors.New("not read")
	if f.connect == nil { // tests that record the messages see them all
		gen, genErr = f.generation(ctx)
	}
	if genErr == nil && f.clean && gen == f.cleanGen {
		return nil
	}
	f.clean = false
	if err := f.check(ctx); err != nil {
		return err
	}
	f.clean, f.cleanGen = genErr == nil, gen
	return nil
}

// check is Check without the generation.
func (f *Firewall) check(ctx context.Context) error {
	c, err := f.conn(ctx)
	if err != nil {
		return fmt.Errorf("nftables: check table %s: %w", f.table, err)
	}
	table, chains, sets, err := f.state(c)
	if err != nil {
		return fmt.Errorf("nftables: check table %s: %w", f.table, err)
	}
	if table == nil {
		return fmt.Errorf("nftables: table inet %s: %w: table missing", f.table, ErrLayout)
	}
	if f.specs == nil {
		return nil
	}
	problems, err := f.differences(c, table, chains, sets)
	if err != nil {
		return fmt.Errorf("nftables: check table %s: %w", f.table, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("nftables: table inet %s: %w: %s", f.table, ErrLayout, strings.Join(problems, "; "))
	}
	return nil
}

// differences lists how the table differs from the layout of f.specs.
func (f *Firewall) differences(c *nft.Conn, table *nft.Table, chains []*nft.Chain, sets []*nft.Set) ([]string, error) {
	var problems []string
	if table.Flags != 0 {
		problems = append(problems, fmt.Sprintf("table flags %#x (dormant: enforces nothing)", table.Flags))
	}
	for _, o := range f.objects(c) {
		problems = append(problems, "object "+o.(*nft.NamedObj).Name+" is not logjail's")
	}
	problems = append(problems, f.setDifferences(sets)...)
	chainProblems, err := f.chainDifferences(c, chains)
	return append(problems, chainProblems...), err
}

// setDifferences lists the sets that are not logjail's, changed or
// missing.
func (f *Firewall) setDifferences(sets []*nft.Set) []string {
	var problems []string
	wantSets := f.wantedSets(f.specs)
	haveSet := map[string]bool{}
	for _, s := range sets {
		haveSet[s.Name] = true
		ref, ok := wantSets[s.Name]
		switch {
		case !ok:
			problems = append(problems, "set "+s.Name+" is not logjail's")
		case !sameSet(s, ref):
			problems = append(problems, fmt.Sprintf("set %s changed (type %s, flags%s)", s.Name, s.KeyType.Name, setFlags(s)))
		}
	}
	for _, name := range sortedSetNames(wantSets) {
		if !haveSet[name] {
			problems = append(problems, "set "+name+" missing")
		}
	}
	return problems
}

// chainDifferences lists the chains that are not logjail's, changed or
// missing, and the rules logjail did not write.
func (f *Firewall) chainDifferences(c *nft.Conn, chains []*nft.Chain) ([]string, error) {
	var problems []string
	wantRules, err := f.wantedRules(f.specs)
	if err != nil {
		return nil, err
	}
	want := wantedChains(f.specs)
	for _, ch := range chains {
		if !slices.ContainsFunc(want, func(w chainSpec) bool { return w.name == ch.Name }) {
			problems = append(problems, "chain "+ch.Name+" is not logjail's")
		}
	}
	for _, w := range want {
		i := slices.IndexFunc(chains, func(ch *nft.Chain) bool { return ch.Name == w.name })
		if i < 0 {
			problems = append(problems, "chain "+w.name+" missing")
			continue
		}
		ch := chains[i]
		if !sameBaseChain(ch, w) {
			problems = append(problems, fmt.Sprintf("chain %s changed (%s)", w.name, chainText(ch)))
		}
		if ch.Policy == nil || *ch.Policy != nft.ChainPolicyAccept {
			problems = append(problems, fmt.Sprintf("chain %s: policy not accept (%s)", w.name, chainText(ch)))
		}
		ruleProblems, err := f.ruleDifferences(c, ch, wantRules[w.name])
		if err != nil {
			return nil, err
		}
		problems = append(problems, ruleProblems...)
	}
	return problems, nil
}

// ruleDifferences compares the rules of ch with want, in order.
func (f *Firewall) ruleDifferences(c *nft.Conn, ch *nft.Chain, want []string) ([]string, error) {
	rules, err := c.GetRules(f.tableRef(), ch)
	if err != nil {
		return nil, fmt.Errorf("chain %s: %w", ch.Name, err)
	}
	if len(rules) != len(want) {
		return []string{fmt.Sprintf("chain %s has %d rules, want %d", ch.Name, len(rules), len(want))}, nil
	}
	var problems []string
	for j, r := range rules {
		text, err := ruleText(r.Exprs, r.UserData, func(set string) (string, error) {
			elems, err := c.GetSetElements(&nft.Set{Table: f.tableRef(), Name: set})
			if err != nil {
				return "", fmt.Errorf("chain %s: set %s: %w", ch.Name, set, err)
			}
			return elementsText(elems), nil
		})
		if err != nil {
			return nil, err
		}
		if text != want[j] {
			problems = append(problems, fmt.Sprintf("chain %s: rule %d (handle %d) is not the rule logjail wrote", ch.Name, j+1, r.Handle))
		}
	}
	return problems, nil
}

func sortedSetNames(m map[string]*nft.Set) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// chainText describes a chain for Check's report.
func chainText(ch *nft.Chain) string {
	s := "type " + string(ch.Type)
	if ch.Hooknum != nil {
		s += fmt.Sprintf(" hook %d", *ch.Hooknum)
	}
	if ch.Priority != nil {
		s += fmt.Sprintf(" priority %d", *ch.Priority)
	}
	if ch.Policy != nil {
		s += map[nft.ChainPolicy]string{nft.ChainPolicyAccept: " policy accept", nft.ChainPolicyDrop: " policy drop"}[*ch.Policy]
	}
	return s
}

// setFlags describes a set's flags for Check's report.
func setFlags(s *nft.Set) string {
	var out string
	for _, fl := range []struct {
		on   bool
		name string
	}{{s.Interval, "interval"}, {s.HasTimeout, "timeout"}, {s.Constant, "constant"}, {s.Dynamic, "dynamic"},
		{s.IsMap, "map"}, {s.Concatenation, "concat"}, {s.AutoMerge, "auto-merge"}} {
		if fl.on {
			out += " " + fl.name
		}
	}
	if s.Timeout != 0 {
		out += fmt.Sprintf(" default-timeout %v", s.Timeout)
	}
	if s.Size != 0 {
		out += fmt.Sprintf(" size %d", s.Size)
	}
	return out
}

// anonPrefix starts the names the kernel gives anonymous sets.
const anonPrefix = "__set"

// ruleText renders a rule's expressions and user data in a canonical form
// for comparison: what the kernel lists and what Setup writes give the
// same text for the same rule. An anonymous set is rendered by its
// elements (elems lists them; the set's name differs from rule to rule),
// a named set by its name (its ID only exists in a batch). Expressions
// logjail never writes still render, differently from any of its own.
func ruleText(exprs []expr.Any, userData []byte, elems func(set string) (string, error)) (string, error) {
	var b strings.Builder
	for _, e := range exprs {
		if l, ok := e.(*expr.Lookup); ok {
			set := "@" + l.SetName
			if strings.HasPrefix(l.SetName, anonPrefix) {
				var err error
				if set, err = elems(l.SetName); err != nil {
					return "", err
				}
			}
			fmt.Fprintf(&b, "lookup(sreg %d dreg %d %v invert %v %s) ", l.SourceRegister, l.DestRegister, l.IsDestRegSet, l.Invert, set)
			continue
		}
		fmt.Fprintf(&b, "%T%+v ", e, e)
	}
	fmt.Fprintf(&b, "userdata %x", userData)
	return b.String(), nil
}

// elementsText renders a set's element keys, sorted.
func elementsText(elems []nft.SetElement) string {
	keys := make([]string, len(elems))
	for i, e := range elems {
		keys[i] = fmt.Sprintf("%x", e.Key)
		if e.IntervalEnd {
			keys[i] += "-end"
		}
	}
	slices.Sort(keys)
	return "{" + strings.Join(keys, ",") + "}"
}

// wantedRules returns the text of the rules Setup writes into each chain,
// in order.
func (f *Firewall) wantedRules(specs []PipelineSpec) (map[string][]string, error) {
	out := map[string][]string{}
	for _, s := range specs {
		var ports *nft.Set
		portsText := ""
		if len(s.Ports) > 1 {
			ports = &nft.Set{Name: anonPrefix + "%d"}
			elems := make([]nft.SetElement, len(s.Ports))
			for i, p := range s.Ports {
				elems[i] = nft.SetElement{Key: binaryutil.BigEndian.PutUint16(p)}
			}
			portsText = elementsText(elems)
		}
		for _, hook := range s.Hooks {
			for _, k := range setKinds {
				text, err := ruleText(ruleExprs(s, k.v6, f.setRef(s.Name, k), ports), ruleUserData(s.Name),
					func(string) (string, error) { return portsText, nil })
				if err != nil {
					return nil, err
				}
				out[hook] = append(out[hook], text)
			}
		}
	}
	return out, nil
}
