package pyre

import (
	"slices"
	"strings"
	"testing"
)

func TestLiteralSets(t *testing.T) {
	tests := []struct {
		name, expr string
		pre, req   []string
	}{
		{"literal", `^Failed password`, []string{"Failed password"}, []string{"Failed password"}},
		{"not anchored", `Failed password`, nil, []string{"Failed password"}},
		{"multi-line caret", `(?m)^Failed`, nil, []string{"Failed"}},
		{"small class", `^[iI]nvalid user`, []string{"Invalid user", "invalid user"}, []string{"Invalid user", "invalid user"}},
		{"alternation", `^(?:Connection (?:closed|reset)|Disconnected) by`,
			[]string{"Connection closed by", "Connection reset by", "Disconnected by"},
			[]string{"Connection closed by", "Connection reset by", "Disconnected by"}},
		{"prefix then the longest required", `^User \S+ not allowed because listed in DenyUsers`,
			[]string{"User "}, []string{" not allowed because listed in DenyUsers"}},
		{"optional part spelled out", `^(?:error: )?Bad user`, []string{"error: Bad user", "Bad user"}, []string{"Bad user"}},
		{"plus keeps its part", `^(?:ab)+c`, []string{"ab"}, []string{"ab"}},
		{"captures are transparent", `^(?P<a>x(?P<b>yz))w`, []string{"xyzw"}, []string{"xyzw"}},
		{"star requires nothing", `^(?:abc)*d`, nil, []string{"d"}},
		{"an empty branch", `^(?:abc|)`, nil, nil},
		{"a branch without literal", `^(?:abc|\d+)`, nil, nil},
		{"large class", `^[a-z]+`, nil, nil},
		{"fold case spelled out", `^(?i)ab`, []string{"ab", "aB", "Ab", "AB"}, []string{"ab", "aB", "Ab", "AB"}},
		{"anchored alternation", `^a|^b`, []string{"a", "b"}, []string{"a", "b"}},
		{"half-anchored alternation", `^a|b`, nil, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pre, req := literalSets(tt.expr)
			slices.Sort(pre)
			slices.Sort(req)
			slices.Sort(tt.pre)
			slices.Sort(tt.req)
			if !slices.Equal(pre, tt.pre) || !slices.Equal(req, tt.req) {
				t.Errorf("%s: prefixes %q required %q, want %q %q", tt.expr, pre, req, tt.pre, tt.req)
			}
		})
	}
}

// A literal with too many spellings ignoring case keeps those of its
// first letters.
func TestLiteralSetsFoldCasePrefix(t *testing.T) {
	pre, req := literalSets(`^(?i)abcdefghij`)
	if len(pre) != maxLitSet || !slices.Equal(pre, req) {
		t.Fatalf("prefixes %q required %q", pre, req)
	}
	for _, p := range pre {
		if !strings.EqualFold(p, "abcdef") {
			t.Errorf("prefix %q", p)
		}
	}
}

// TestLiteralSetsHoldForMatches checks the sets against matches: every
// match starts with a prefix (at the start of the text) and contains a
// required text.
func TestLiteralSetsHoldForMatches(t *testing.T) {
	tests := []struct{ pattern, text string }{
		{`^[aA]uthentication (?:failure|error) for (?P<user>.*) from (\S+)`, "authentication error for x from 1.2.3.4"},
		{`^(?:(?:error|fatal): (?:PAM: )?)?(?P<content>.+)$`, "error: PAM: x"},
		{`^Failed (?:(?P<nofail>publickey)|\S+) for (?P<cond_inv>invalid user )?(?P<user>\S+) from`, "Failed password for invalid user a from"},
		{`(?i)^refused connect from \S+`, "REFUSED Connect FROM x"},
		{`^User (?P<user>\S+|.*?) not allowed because account is locked`, "User a b not allowed because account is locked"},
	}
	for _, tt := range tests {
		r := MustCompile(tt.pattern, Options{})
		if ok, _ := r.MatchString(tt.text); !ok {
			t.Fatalf("%s does not match %q", tt.pattern, tt.text)
		}
		if p := r.Prefixes(); p != nil && !slices.ContainsFunc(p, func(s string) bool { return len(tt.text) >= len(s) && tt.text[:len(s)] == s }) {
			t.Errorf("%s: %q starts with none of %q", tt.pattern, tt.text, p)
		}
		if req := r.Required(); req != nil && !slices.ContainsFunc(req, func(s string) bool { return strings.Contains(tt.text, s) }) {
			t.Errorf("%s: %q holds none of %q", tt.pattern, tt.text, req)
		}
	}
}
