package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestHelpTexts: --help says what the command accepts, in words that
// read (a `PLACEHOLDER` in a flag's usage stays in its text).
func TestHelpTexts(t *testing.T) {
	t.Parallel()
	space := regexp.MustCompile(`\s+`)
	for _, tc := range []struct {
		name     string
		args     string
		want     []string
		dontWant []string
	}{
		{"run --config", "run --help", []string{"--config PATH, -c PATH configuration PATH: a file, or a directory whose *.yaml and *.yml files are merged in name order", "logjail.d/*.yaml and *.yml)"}, []string{", PATH"}},
		{"validate --config", "validate --help", []string{"*.yaml and *.yml files"}, []string{", PATH"}},
		{"config show --config", "config show --help", []string{"*.yaml and *.yml files"}, []string{", PATH"}},
		{"test FILTER", "test --help", []string{"a YAML filter file, or a fail2ban filter file (/etc/fail2ban/filter.d/sshd.conf)", "/etc/fail2ban/filter.d/sshd.conf[mode=aggressive]"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := app()
			var out strings.Builder
			a.Writer = &out
			if err := a.Run(append([]string{"logjail"}, strings.Fields(tc.args)...)); err != nil {
				t.Fatal(err)
			}
			help := space.ReplaceAllString(out.String(), " ")
			for _, w := range tc.want {
				if !strings.Contains(help, w) {
					t.Errorf("logjail %s does not say %q:\n%s", tc.args, w, out.String())
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(help, w) {
					t.Errorf("logjail %s says %q:\n%s", tc.args, w, out.String())
				}
			}
		})
	}
}
