package f2bsample

import (
	"os"
	"path/filepath"
	"strings"
)

// AllLogLines returns the lines of every sample log in LogDir, bytes as
// they are (some are not UTF-8), without their line ends: text for
// checking that a shortcut changes no result.
func AllLogLines() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(LogDir, "*"))
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a directory
		}
		for l := range strings.Lines(string(b)) {
			lines = append(lines, strings.TrimRight(l, "\r\n"))
		}
	}
	return lines, nil
}
