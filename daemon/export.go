package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// handleExport writes the store as a state export document (see
// store.ExportVersion). The store reads its records in one read
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
	resp, err := c.send(ctx, http.MethodGet, "/v1/export", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("state export from %s: %w", c.socket, err)
	}
	return nil
}

// IsNotRunning reports whether err says that no logjail answers on the
// control socket.
func IsNotRunning(err error) bool { return errors.Is(err, errNotRunning) }
