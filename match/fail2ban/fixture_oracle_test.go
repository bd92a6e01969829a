package fail2ban

import "testing"

// The testdata configuration is also readable by fail2ban itself; when it
// is installed, check that it agrees with us on every fixture.

const fixtureDir = "testdata/conf"

func TestFixturesAgainstFail2ban(t *testing.T) {
	vs := []oracleVariant{
		{Name: "inc"}, {Name: "inc", Args: map[string]string{"level": "crit", "logtype": "journal"}},
		{Name: "syntax"}, {Name: "modes"}, {Name: "modes", Args: map[string]string{"mode": "extra"}},
		{Name: "modes", Args: map[string]string{"mode": "more"}},
		{Name: "args"}, {Name: "args", Args: map[string]string{"port": "2222", "user": "a b,c"}},
		{Name: "quoted", Args: map[string]string{"list": "<HOST>|x"}},
		{Name: "loop"}, {Name: "tagloop"}, {Name: "undefined"}, {Name: "percent"},
		{Name: "dupopt"}, {Name: "nodelim"}, {Name: "nosection"}, {Name: "maxlines"}, {Name: "cond"},
	}
	same := compareFilterOracle(t, fixtureDir, vs)
	if same != len(vs) {
		t.Errorf("%d of %d fixture filters agree with fail2ban", same, len(vs))
	}
	same, n := compareJailOracle(t, fixtureDir)
	if same != n {
		t.Errorf("%d of %d fixture jails agree with fail2ban", same, n)
	}
}
