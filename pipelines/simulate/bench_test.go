package simulate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkSimulate replays a flood: 100,000 failures of 14,000 addresses
// over half an hour, a ban at every fifth failure of an address, most of
// them bans again after an expiry (bantime_increment).
func BenchmarkSimulate(b *testing.B) {
	var log strings.Builder
	for i := range 100_000 {
		a := i / 7 % 14_000
		fmt.Fprintf(&log, "%s srv sshd[1]: Failed password for root from 10.%d.%d.%d port 22 ssh2\n",
			t0.Add(time.Duration(i/50)*time.Second).Format(time.RFC3339), a>>16, a>>8&255, a&255)
	}
	path := filepath.Join(b.TempDir(), "auth.log")
	if err := os.WriteFile(path, []byte(log.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	cfgPath := filepath.Join(b.TempDir(), "logjail.yaml")
	if err := os.WriteFile(cfgPath, []byte(sshdConfig("maxretry: 5", "bantime: 10m", "bantime_increment: {factor: 1}")), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := loadConfigTB(b, cfgPath)
	b.SetBytes(int64(log.Len()))
	for b.Loop() {
		r, err := Run(cfg, Options{Logs: []string{path}})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Bans) == 0 {
			b.Fatal("no bans")
		}
	}
}
