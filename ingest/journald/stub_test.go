//go:build !cgo

package journald

import (
	"errors"
	"strings"
	"testing"
)

func TestUnavailableWithoutCgo(t *testing.T) {
	_, err := New(Config{Match: []string{"_SYSTEMD_UNIT=ssh.service"}}, nil, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "without cgo") {
		t.Fatalf("New in a build without cgo: %v", err)
	}
}
