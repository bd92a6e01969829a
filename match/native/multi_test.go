package native

import (
	"errors"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// catalinaLike reads a failure written on two lines, the address on the
// second.
var catalinaLike = match.Rules{
	Failregex: []string{`^.*\borg\.example\.AuthFacade authenticate\nWARNING: Authentication attempt from <HOST> for user "<F-USER>[^"]*</F-USER>" failed\.$`},
	MaxLines:  2,
	Location:  time.UTC,
}

var multiCases = []struct {
	name  string
	rules match.Rules
	steps []connStep
}{
	{"two lines make a failure", catalinaLike, []connStep{
		{line: "Nov 25, 2026 7:00:00 AM org.example.AuthFacade authenticate", want: match.Miss},
		{line: `WARNING: Authentication attempt from 192.0.2.1 for user "bob" failed.`, want: match.Matched, addr: "192.0.2.1", user: "bob", tries: 2},
	}},
	{"the lines of a match leave the buffer", catalinaLike, []connStep{
		{line: "Nov 25, 2026 7:00:00 AM org.example.AuthFacade authenticate", want: match.Miss},
		{line: `WARNING: Authentication attempt from 192.0.2.1 for user "bob" failed.`, want: match.Matched, addr: "192.0.2.1", user: "bob"},
		{line: `WARNING: Authentication attempt from 192.0.2.2 for user "bob" failed.`, want: match.Miss},
	}},
	{"a line too far back is gone", catalinaLike, []connStep{
		{line: "Nov 25, 2026 7:00:00 AM org.example.AuthFacade authenticate", want: match.Miss},
		{line: "something else", want: match.Miss},
		{line: `WARNING: Authentication attempt from 192.0.2.1 for user "bob" failed.`, want: match.Miss},
	}},
	{"hostile: a user name cannot supply the address", catalinaLike, []connStep{
		{line: "Nov 25, 2026 7:00:00 AM org.example.AuthFacade authenticate", want: match.Miss},
		{line: `WARNING: Authentication attempt from 192.0.2.3 for user "x\" failed.\nWARNING: Authentication attempt from 203.0.113.9 for user "y" failed.`, want: match.Miss},
		{line: "Nov 25, 2026 7:00:01 AM org.example.AuthFacade authenticate", want: match.Miss},
		{line: `WARNING: Authentication attempt from 192.0.2.4 for user "from 203.0.113.9 for user " failed.`, want: match.Matched, addr: "192.0.2.4", user: "from 203.0.113.9 for user "},
	}},
	{"the prefregex runs on each line; its content is kept", match.Rules{
		Prefregex: `^app\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`,
		Failregex: []string{`^login of <F-USER>\S+</F-USER> started\n(?:.*\n)?login from <HOST> refused$`},
		MaxLines:  3,
		Location:  time.UTC,
	}, []connStep{
		{line: "app[1]: login of bob started", want: match.Miss},
		{line: "other[2]: noise", want: match.Miss}, // not kept
		{line: "app[1]: step two", want: match.Miss},
		{line: "app[1]: login from 192.0.2.5 refused", want: match.Matched, addr: "192.0.2.5", user: "bob", tries: 3},
	}},
	{"several lines and connections", match.Rules{
		Prefregex: `^app\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$`,
		Failregex: []string{
			`^<F-NOFAIL>client</F-NOFAIL> <HOST>$`,
			`^bad token\nsession closed$`,
		},
		MaxLines: 2,
		Location: time.UTC,
	}, []connStep{
		{line: "app[7]: client 192.0.2.7", want: match.NoFail, addr: "192.0.2.7"},
		{line: "app[7]: bad token", want: match.Miss},
		{line: "app[7]: session closed", want: match.Matched, addr: "192.0.2.7"},
	}},
}

func TestMaxLines(t *testing.T) {
	for _, tc := range multiCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile("p", tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if !m.KeepsState() || match.LineByLine(m) || m.Splits() {
				t.Fatalf("keeps state %v, line by line %v, splits %v", m.KeepsState(), match.LineByLine(m), m.Splits())
			}
			for i, s := range tc.steps {
				e := ingest.Entry{Message: s.line, Time: connStart.Add(s.after), ReadAt: now}
				f, out := m.Match(&e, now)
				checkStep(t, i, s, f, out)
			}
		})
	}
}

func TestConnectionCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules match.Rules
		list  string
	}{
		{"forget in the prefregex", match.Rules{Prefregex: `^<F-MLFFORGET>x</F-MLFFORGET> <F-CONTENT>.+</F-CONTENT>$`, Failregex: []string{`<HOST>`}}, "prefregex"},
		{"no address and no connection", match.Rules{Failregex: []string{`^<F-NOFAIL>x</F-NOFAIL>$`}}, "failregex"},
		{"maxlines too large", match.Rules{Failregex: []string{`<HOST>`}, MaxLines: 1000}, "maxlines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile("p", tc.rules)
			var re *match.RegexError
			if !errors.As(err, &re) || re.List != tc.list {
				t.Fatalf("want an error at %s, got %v", tc.list, err)
			}
		})
	}
	// An <F-MLFID> lets a failregex take its address from the connection.
	for _, rules := range []match.Rules{
		{Prefregex: `^a\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$`, Failregex: []string{`^refused$`}},
		{Failregex: []string{`^conn=<F-MLFID>\d+</F-MLFID> refused$`}},
	} {
		if _, err := Compile("p", rules); err != nil {
			t.Errorf("%+v: %v", rules, err)
		}
	}
}
