package gate

import (
	"net/netip"
	"testing"

	"github.com/logjail/logjail/internal/hostile"
)

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"::ffff:192.0.2.7/128", "192.0.2.7/32"},
		{"::ffff:192.0.2.7/120", "192.0.2.0/24"},
		{"::ffff:0.0.0.0/80", "0.0.0.0/0"},
		{"192.0.2.7/24", "192.0.2.0/24"},
		{"2001:db8::7/64", "2001:db8::/64"},
	} {
		if got := Canonical(netip.MustParsePrefix(tc.in)); got.String() != tc.want {
			t.Errorf("Canonical(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := Single(netip.MustParseAddr("fe80::1%eth0")); got.String() != "fe80::1/128" {
		t.Errorf("Single drops the zone: %s", got)
	}
}

// Every rule, for addresses written plain and IPv4-mapped.
func TestRules(t *testing.T) {
	const server = "198.51.100.4"
	r := Rules{
		IPv6Bits: 64,
		Servers:  NewSet(netip.MustParsePrefix(server + "/32")),
		Self:     NewSet(netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8:1::1/128")),
		IgnoreIP: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")},
		Command:  func(a netip.Addr) bool { return a == netip.MustParseAddr("203.0.113.99") },
	}
	type tc struct {
		name, prefix string
		want         Reason
	}
	var cases []tc
	for _, tok := range hostile.Tokens() {
		cases = append(cases, tc{"hostile " + tok, tok, NotHost})
	}
	cases = append(cases,
		tc{"NATS server", server, NATSServer},
		tc{"NATS server mapped", "::ffff:" + server, NATSServer},
		tc{"prefix holding the NATS server", "198.51.100.0/24", TooWide},
		tc{"prefix holding this host", "2001:db8:1::/64", IgnoreSelf},
		tc{"this host", "192.0.2.1", IgnoreSelf},
		tc{"this host mapped", "::ffff:192.0.2.1", IgnoreSelf},
		tc{"ignoreip", "203.0.113.5", IgnoreIP},
		tc{"ignoreip mapped", "::ffff:203.0.113.5", IgnoreIP},
		tc{"ignorecommand", "203.0.113.99", IgnoreCommand},
		tc{"ignorecommand mapped", "::ffff:203.0.113.99", IgnoreCommand},
		tc{"wider than ipv4_prefix", "192.0.2.0/24", TooWide},
		tc{"wider than ipv6_prefix", "2001:db8:5::/48", TooWide},
		tc{"everything", "0.0.0.0/0", NotHost},
		tc{"everything v6", "::/0", NotHost},
		tc{"prefix holding link-local", "fe80::/64", NotHost},
		tc{"an attacker", "198.51.100.7", ""},
		tc{"an attacker mapped", "::ffff:198.51.100.7", ""},
		tc{"an attacker's /64", "2001:db8:5::/64", ""},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := netip.ParsePrefix(c.prefix)
			if err != nil {
				a := netip.MustParseAddr(c.prefix)
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if got := r.Admit(Canonical(p)); got != c.want {
				t.Errorf("Admit(%s) = %q, want %q", c.prefix, got, c.want)
			}
		})
	}
	// ignoreself off: this host's address is banned, loopback still not.
	r.Self = nil
	if got := r.Admit(Single(netip.MustParseAddr("192.0.2.1"))); got != "" {
		t.Errorf("ignoreself off: %q", got)
	}
	if got := r.Admit(Single(netip.MustParseAddr("127.0.0.1"))); got != NotHost {
		t.Errorf("ignoreself off, loopback: %q", got)
	}
}

// overlapsAny takes a shortcut for a single address: it must answer as
// Overlaps does, at the ranges' edges, across families and for mapped
// addresses.
func TestOverlapsAnySingle(t *testing.T) {
	ranges := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64"), netip.MustParsePrefix("0.0.0.0/0")}
	for _, tc := range []struct {
		addr   string
		ranges []netip.Prefix
	}{
		{"192.0.2.0", ranges[:2]}, {"192.0.2.255", ranges[:2]}, {"192.0.3.0", ranges[:2]},
		{"2001:db8::ffff", ranges[:2]}, {"2001:db8:0:1::", ranges[:2]},
		{"::ffff:192.0.2.7", ranges[:2]}, {"::ffff:192.0.2.7", ranges}, {"2001:db8::1", ranges[2:]},
		{"203.0.113.9", ranges}, {"203.0.113.9", nil},
	} {
		a := netip.MustParseAddr(tc.addr)
		p := netip.PrefixFrom(a, a.BitLen())
		want := false
		for _, q := range tc.ranges {
			want = want || q.Overlaps(p)
		}
		if got := overlapsAny(tc.ranges, p); got != want {
			t.Errorf("overlapsAny(%v, %s) = %v, Overlaps says %v", tc.ranges, p, got, want)
		}
	}
}
