package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// fdLimit is the open files limit (soft and hard) logjail runs under, far
// below the number of files its glob matches.
const fdLimit = 128

var manyFilesConfig = e2ePipeline("maxretry: 3", "bantime: 1h", `ingest:
  - file: {paths: [LOGFILE, GLOB], poll: 200ms}`, sshdFilter, nftables2222)

// TestGlobBeyondFDLimit: a glob matching more files than the open files
// limit (issue 11, item 7) used to take every descriptor, so bans were
// decided but never reached nftables ("socket: too many open files") and
// the control socket could not accept. The file sources now stay within
// their share of the limit and report the files left out; bans are
// enforced and the control socket answers.
func TestGlobBeyondFDLimit(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	prlimit := needTools(t, map[string]string{"prlimit": "util-linux"})["prlimit"]
	tn := newTestNet(t)
	tn.listen(t, 2222)
	s := newSetup(t, "")
	many := filepath.Join(s.dir, "many")
	if err := os.Mkdir(many, 0o755); err != nil {
		t.Fatal(err)
	}
	const files = 3 * fdLimit
	for i := range files {
		if err := os.WriteFile(filepath.Join(many, fmt.Sprintf("f%04d.log", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := strings.NewReplacer("LOGFILE", s.logFile, "GLOB", filepath.Join(many, "*.log")).Replace(manyFilesConfig)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.wrap = []string{prlimit, fmt.Sprintf("--nofile=%d:%d", fdLimit, fdLimit), "--"}
	s.start(t, tn)

	s.appendLines(t, time.Now(), failures("192.0.2.2", 3)...)
	tn.waitBanned(t, s, "e2e-v4", "192.0.2.2")
	if tn.connect(t, "192.0.2.2", "192.0.2.1", 2222) {
		t.Error("banned 192.0.2.2 still connects")
	}
	// The control socket answers, and says what was left out.
	if b := banned(t, s.socket); len(b) != 1 || b[0].Addr != "192.0.2.2" {
		t.Errorf("logjail banned: %+v", b)
	}
	src := status(t, s.socket).Sources[0]
	if src.State != "error" || !strings.Contains(src.Reason, "matching files not followed: the file sources' descriptor budget") || src.Errors == 0 {
		t.Errorf("source status %+v: want the files left out reported", src)
	}
}
