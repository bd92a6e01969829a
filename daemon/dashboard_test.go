package daemon

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDashboardInstance: the dashboard has an instance variable (the
// logjails that report logjail_build_info), and every panel's queries
// select by it, so one dashboard shows one host of many, or all of them.
func TestDashboardInstance(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash dashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	found := false
	for _, v := range dash.Templating.List {
		if v.Name == "instance" {
			found = true
			if want := "label_values(logjail_build_info, instance)"; v.Definition != want {
				t.Errorf("instance variable: %q, want %q", v.Definition, want)
			}
		}
	}
	if !found {
		t.Error("the dashboard has no instance variable")
	}
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			// Every metric the query names is selected by instance.
			names := metricName.FindAllStringIndex(tg.Expr, -1)
			for _, n := range names {
				if !strings.HasPrefix(tg.Expr[n[1]:], `{instance=~"$instance"`) {
					t.Errorf("panel %q: %s in %s is not selected by $instance", p.Title, tg.Expr[n[0]:n[1]], tg.Expr)
				}
			}
			if len(names) == 0 {
				t.Errorf("panel %q: %s names no metric", p.Title, tg.Expr)
			}
		}
	}
	if queries == 0 {
		t.Error("the dashboard has no queries")
	}
}
