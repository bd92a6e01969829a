// Package f2boracle lets tests run fail2ban's own Python code beside
// logjail's (the oracle): it finds a python3 that imports fail2ban and runs
// a driver script on a JSON request. LOGJAIL_F2B_ORACLE=off skips such
// tests; without python3 or fail2ban they skip, or fail under CI=true
// (where .ci/run installs both).
package f2boracle

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

// Python returns a python3 that can import module (say
// "fail2ban.server.filter"), or skips t.
func Python(t testing.TB, module string) string {
	t.Helper()
	if os.Getenv("LOGJAIL_F2B_ORACLE") == "off" {
		t.Skip("LOGJAIL_F2B_ORACLE=off")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		testkit.Missing(t, "python3 is missing (apt-get install python3)")
	}
	script := "import sys; sys.path.append('/usr/lib/python3/dist-packages'); import " + module
	if err := exec.Command(py, "-c", script).Run(); err != nil {
		testkit.Missing(t, "python3 cannot import fail2ban (apt-get install fail2ban): %v", err)
	}
	return py
}

// Run runs cmd (python3 with a driver script) with req as JSON on its
// standard input, and decodes what it prints into resp.
func Run(t testing.TB, cmd *exec.Cmd, req, resp any) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	if err := json.Unmarshal(out, resp); err != nil {
		t.Fatal(err)
	}
}
