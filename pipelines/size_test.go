package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// bigConfig returns a valid configuration of at least size bytes: many
// small disabled pipelines, the shape of a generated configuration.
func bigConfig(size int) []byte {
	var b bytes.Buffer
	b.WriteString("pipelines:\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "  p%07d: {enabled: false, ingest: [{file: {paths: [/var/log/auth.log]}}], match: {filter: sshd}}\n", i)
	}
	return b.Bytes()
}

func TestConfigSizeBudgets(t *testing.T) {
	small := "pipelines:\n  sshd: {enabled: true, ingest: [{file: {paths: [/var/log/auth.log]}}], match: {filter: %s}}\n"
	cases := []struct {
		name  string
		files map[string][]byte // in a fresh directory
		load  string            // relative to it; "" loads the directory
		want  string            // in the error, after the directory
		// wrapped: the error wraps ErrTooLarge (a filter's is reported
		// as a validation error, with the position that names it).
		wrapped bool
	}{
		{
			name:    "a 50 MB file",
			files:   map[string][]byte{"big.yaml": bigConfig(50 << 20)},
			load:    "big.yaml",
			want:    "big.yaml: 52428", // its size follows
			wrapped: true,
		},
		{
			name: "a directory over the total",
			files: func() map[string][]byte {
				m := map[string][]byte{}
				part := bigConfig(MaxConfigFile - 200)
				for i := range MaxConfigTotal/MaxConfigFile + 1 {
					// Each file its own pipeline names: parts must not
					// need merging to be valid.
					m[fmt.Sprintf("%02d.yaml", i)] = bytes.ReplaceAll(part, []byte("  p00"), fmt.Appendf(nil, "  f%02d", i))
				}
				return m
			}(),
			want:    ": its files hold ",
			wrapped: true,
		},
		{
			name: "a filter file over the cap",
			files: map[string][]byte{
				"logjail.yaml":      fmt.Appendf(nil, small, "filters/huge.yaml"),
				"filters/huge.yaml": append([]byte("failregex:\n"), bytes.Repeat([]byte("  - 'Failed password from <HOST>'\n"), MaxConfigFile/32)...),
			},
			load: "logjail.yaml",
			want: "filters/huge.yaml: 1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Load(filepath.Join(dir, tc.load))
			runtime.ReadMemStats(&after)
			if err == nil || tc.wrapped && !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than the ") {
				t.Fatalf("Load: %v, want ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), dir+"/"+strings.TrimPrefix(tc.want, ": ")) && !strings.Contains(err.Error(), dir+tc.want) {
				t.Errorf("Load: %v, want it to name %q", err, tc.want)
			}
			// Refused before being parsed: far less memory than the file
			// (the filter case parses only the small main file).
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("Load allocated %d bytes to refuse it", alloc)
			}
		})
	}
}

// TestConfigNotRegularFile: a configuration that is a device (or a link to
// one) is refused instead of read without end.
func TestConfigNotRegularFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "zero.yaml: not a regular file") {
		t.Errorf("Load: %v", err)
	}
}

// TestConfigAtTheBudget: a file just within MaxConfigFile loads.
func TestConfigAtTheBudget(t *testing.T) {
	dir := t.TempDir()
	data := bigConfig(MaxConfigFile - 200)
	if len(data) > MaxConfigFile {
		t.Fatalf("generated %d bytes", len(data))
	}
	p := filepath.Join(dir, "logjail.yaml")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pipelines) < 10000 {
		t.Errorf("%d pipelines", len(cfg.Pipelines))
	}
}
