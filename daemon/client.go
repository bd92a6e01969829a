package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"
)

// Client talks to a running logjail over its control socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	return &Client{
		socket: socket,
		http: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", socket)
				},
			},
		},
	}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// send makes a request and returns a 200 response, or the daemon's error.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://logjail"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %s", errNotRunning, c.socket)
		}
		return nil, fmt.Errorf("control socket %s: %w", c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return nil, &APIError{Status: resp.StatusCode, Msg: e.Error}
		}
		return nil, fmt.Errorf("control socket: %s", resp.Status)
	}
	return resp, nil
}

// Ping asks whether the daemon answers, and its build.
func (c *Client) Ping(ctx context.Context) (Pong, error) {
	var p Pong
	return p, c.do(ctx, http.MethodGet, "/v1/ping", nil, &p)
}

// Status lists the running pipelines.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// PipelineStatus returns one pipeline's status.
func (c *Client) PipelineStatus(ctx context.Context, name string) (PipelineStatus, error) {
	var s PipelineStatus
	return s, c.do(ctx, http.MethodGet, "/v1/status/"+url.PathEscape(name), nil, &s)
}

// Banned lists the active bans.
func (c *Client) Banned(ctx context.Context) ([]Ban, error) {
	var b []Ban
	return b, c.do(ctx, http.MethodGet, "/v1/banned", nil, &b)
}

// BannedAddrs returns, for each address, the active bans covering it
// (filtered by the daemon).
func (c *Client) BannedAddrs(ctx context.Context, addrs []string) ([]AddrBans, error) {
	q := url.Values{"addr": addrs}
	var b []AddrBans
	return b, c.do(ctx, http.MethodGet, "/v1/banned/addrs?"+q.Encode(), nil, &b)
}

// Explain asks why addr is (or was, or is not) banned, in pipeline ("" for
// every pipeline).
func (c *Client) Explain(ctx context.Context, addr, pipeline string) (Explanation, error) {
	q := url.Values{"addr": {addr}}
	if pipeline != "" {
		q.Set("pipeline", pipeline)
	}
	var e Explanation
	return e, c.do(ctx, http.MethodGet, "/v1/explain?"+q.Encode(), nil, &e)
}

// Ban bans an address in a pipeline.
func (c *Client) Ban(ctx context.Context, req BanRequest) (Ban, error) {
	var b Ban
	return b, c.do(ctx, http.MethodPost, "/v1/ban", req, &b)
}

// Unban lifts an address's bans.
func (c *Client) Unban(ctx context.Context, req UnbanRequest) (UnbanResult, error) {
	var r UnbanResult
	return r, c.do(ctx, http.MethodPost, "/v1/unban", req, &r)
}

// Reload makes the daemon read its configuration again.
func (c *Client) Reload(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodPost, "/v1/reload", struct{}{}, &s)
}

// Failing returns the addresses a pipeline is counting, with their failures.
func (c *Client) Failing(ctx context.Context, pipeline string) (map[string]int, error) {
	var m map[string]int
	return m, c.do(ctx, http.MethodGet, "/v1/failing/"+url.PathEscape(pipeline), nil, &m)
}

// Socket is the control socket's path.
func (c *Client) Socket() string { return c.socket }
