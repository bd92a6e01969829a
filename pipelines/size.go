package pipelines

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Size budgets of the configuration. Validating a file costs memory many
// times its size (YAML nodes, positions, decoded specs), so a file, or a
// directory of them, beyond these is refused before it is parsed.
const (
	// MaxConfigFile is the largest configuration or filter file read.
	MaxConfigFile = 1 << 20
	// MaxConfigTotal is the most that the files of a configuration
	// directory may hold together (filters not counted).
	MaxConfigTotal = 4 << 20
)

// ErrTooLarge is returned (wrapped, naming the file) for a configuration
// beyond MaxConfigFile or MaxConfigTotal.
var ErrTooLarge = errors.New("too large")

// checkSizes refuses, before anything is parsed, a configuration whose
// files are not regular files or exceed the size budgets.
func checkSizes(files []string) error {
	var errs []error
	var total int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
			continue
		}
		if err := checkSize(f, fi); err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
			continue
		}
		total += fi.Size()
	}
	if len(errs) == 0 && total > MaxConfigTotal {
		errs = append(errs, fmt.Errorf("config: %s: its files hold %d bytes together, more than the %s allowed: %w",
			filepath.Dir(files[0]), total, mib(MaxConfigTotal), ErrTooLarge))
	}
	return errors.Join(errs...)
}

func checkSize(file string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", file)
	}
	if fi.Size() > MaxConfigFile {
		return fmt.Errorf("%s: %d bytes, more than the %s a configuration file may hold: %w",
			file, fi.Size(), mib(MaxConfigFile), ErrTooLarge)
	}
	return nil
}

// readConfigFile reads a configuration or filter file within
// MaxConfigFile, checked again while reading in case it grew. Errors name
// the file.
func readConfigFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkSize(file, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxConfigFile {
		return nil, fmt.Errorf("%s: more than the %s a configuration file may hold: %w", file, mib(MaxConfigFile), ErrTooLarge)
	}
	return data, nil
}

func mib(n int) string { return fmt.Sprintf("%d MiB", n>>20) }
