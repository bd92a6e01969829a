package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/pipelines"
)

// TestFiltersCommand checks that `logjail filters --json` lists every
// shipped filter, and that `logjail test NAME[mode=M] SAMPLE` runs each in
// each of its modes over its annotated sample and finds failures there.
func TestFiltersCommand(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "filters", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var list filtersList
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var names []string
	for _, f := range list.Filters {
		names = append(names, f.Name)
		if f.Description == "" || len(f.Modes) == 0 {
			t.Errorf("%s: description %q, modes %v", f.Name, f.Description, f.Modes)
		}
		for _, mode := range f.Modes {
			checkFilterRuns(t, f.Name, mode)
		}
	}
	if want := pipelines.ShippedFilters(); !slices.Equal(names, want) {
		t.Errorf("filters lists %v, want %v", names, want)
	}
	if len(list.LeftOut) != len(pipelines.LeftOut) {
		t.Errorf("left out: %v, want %d", list.LeftOut, len(pipelines.LeftOut))
	}
	text, err := exec.Command(binary, "filters").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !strings.Contains(string(text), "\n"+name+" ") {
			t.Errorf("filters' text does not list %s:\n%s", name, text)
		}
	}
}

// checkFilterRuns runs `logjail test NAME[mode=MODE]` over the filter's
// annotated sample and requires failures found.
func checkFilterRuns(t *testing.T, name, mode string) {
	t.Helper()
	sample := "../../pipelines/testdata/filters/" + name + ".log"
	out, err := exec.Command(binary, "test", name+"[mode="+mode+"]", sample, "--json").Output()
	if err != nil {
		t.Errorf("test %s[mode=%s]: %v", name, mode, err)
		return
	}
	var r struct {
		Failures []json.RawMessage `json:"failures"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Failures) == 0 {
		t.Errorf("test %s[mode=%s] %s: %d failures (%v)", name, mode, sample, len(r.Failures), err)
	}
}

// TestREADMEFilterTable requires README's filter table to have a row for
// every shipped filter, with its modes, and one for every fail2ban filter
// left out.
func TestREADMEFilterTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	infos, err := pipelines.ShippedFilterInfo()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range infos {
		row := "| `" + f.Name + "` | " + strings.Join(f.Modes, ", ") + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README has no filter table row starting %q", row)
		}
	}
	for name := range pipelines.LeftOut {
		if !strings.Contains(readme, "| `"+name+"` | not shipped |") {
			t.Errorf("README does not say why %s is left out (a row \"| `%s` | not shipped | REASON |\")", name, name)
		}
	}
}
