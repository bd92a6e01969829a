package filter

import (
	"testing"

	"github.com/logjail/logjail/match"
)

// Compile picks the implementation by the rules' dialect.
func TestCompilePicksDialect(t *testing.T) {
	for _, d := range []match.Dialect{match.DialectLogjail, match.DialectFail2ban} {
		m, err := Compile("p", match.Rules{Dialect: d, Failregex: []string{`^x <HOST>$`}})
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if m.Dialect() != d {
			t.Errorf("compiled %s, got a %s matcher", d, m.Dialect())
		}
	}
	if m, err := Compile("p", match.Rules{Failregex: []string{`^x$`}}); err == nil || m != nil {
		t.Errorf("a failregex without an address compiled: %v, %v", m, err)
	}
	if _, err := Compile("p", match.Rules{Dialect: 9, Failregex: []string{`^x <HOST>$`}}); err == nil {
		t.Error("an unknown dialect compiled")
	}
}
