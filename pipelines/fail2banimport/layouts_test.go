package fail2banimport

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/pipelines"
)

// TestLayoutsReadAreInTheSamples: every layout value the import drops for
// a shipped filter (layoutsRead) has a counted line of that layout in the
// filter's sample log, marked "# layout: OPTION=VALUE" (TestShippedFilters
// checks the line counts with the address wanted), and every marked value
// is one layoutsRead lists.
func TestLayoutsReadAreInTheSamples(t *testing.T) {
	names := pipelines.ShippedFilters()
	for name, options := range layoutsRead {
		if !slices.Contains(names, name) {
			t.Errorf("layoutsRead: %s is no shipped filter", name)
			continue
		}
		marked := sampleLayouts(t, "../testdata/filters/"+name+".log")
		for key, values := range options {
			for _, v := range values {
				if !marked[key+"="+v] {
					t.Errorf("%s: %s=%s is listed as read, but no counted line of its sample is marked # layout: %s=%s", name, key, v, key, v)
				}
				delete(marked, key+"="+v)
			}
		}
		for kv := range marked {
			t.Errorf("%s: its sample marks %s, which layoutsRead does not list", name, kv)
		}
	}
}

// sampleLayouts returns the OPTION=VALUE layouts marked in a sample log,
// each before a counted case ("# want: ADDR", then the line).
func sampleLayouts(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	var pending []string // marked, waiting for "# want:"
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# layout: "):
			pending = strings.Fields(strings.TrimPrefix(line, "# layout: "))
		case pending == nil:
		case strings.HasPrefix(line, "# want: "):
			want := strings.TrimPrefix(line, "# want: ")
			if want == "none" || strings.HasPrefix(want, "nofail ") {
				t.Errorf("%s:%d: a layout marks a case that is not counted", path, n)
			}
			for _, kv := range pending {
				out[kv] = true
			}
			pending = nil
		default:
			t.Errorf("%s:%d: # layout: not followed by # want:", path, n)
			pending = nil
		}
	}
	return out
}
