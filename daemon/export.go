package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
)

// handleExport writes the store as a state export document (see
// state.ExportVersion). The store reads its records in one read
// transaction, a consistent view while the pipelines commit: positions and
// windows are those committed (within 50ms of processing).
func (d *Daemon) handleExport(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	cw := &countingWriter{w: w}
	if err := d.store.Export(cw); err != nil {
		d.log.Error("state export", "err", err)
		if cw.n == 0 {
			fail(w, http.StatusInternalServerError, "state export: %v", err)
			return
		}
		// Part of the document is sent: cut the connection, so that the
		// client sees a broken transfer rather than a short document.
		panic(http.ErrAbortHandler)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Export writes the running logjail's state export document to w.
func (c *Client) Export(ctx context.Context, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://logjail/v1/export", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w: %s", errNotRunning, c.socket)
		}
		return fmt.Errorf("control socket %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("control socket: %s", resp.Status)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("state export from %s: %w", c.socket, err)
	}
	return nil
}

// IsNotRunning reports whether err says that no logjail answers on the
// control socket.
func IsNotRunning(err error) bool { return errors.Is(err, errNotRunning) }
