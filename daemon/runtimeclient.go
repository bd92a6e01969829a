package daemon

import (
	"context"
	"net/http"
	"net/url"
)

// APIError is an error the daemon answered with: its message, and the HTTP
// status that says whose fault it was (400: the request's; 404: no such
// pipeline; 409: the pipeline is not in a state to do it).
type APIError struct {
	Status int
	Msg    string
}

func (e *APIError) Error() string { return e.Msg }

// Get reads a pipeline's setting.
func (c *Client) Get(ctx context.Context, pipeline, key string) (Setting, error) {
	var s Setting
	return s, c.do(ctx, http.MethodGet, "/v1/get/"+url.PathEscape(pipeline)+"/"+url.PathEscape(key), nil, &s)
}

// Set changes a pipeline's setting until the next reload or restart.
func (c *Client) Set(ctx context.Context, req SetRequest) (SetResult, error) {
	var r SetResult
	return r, c.do(ctx, http.MethodPost, "/v1/set", req, &r)
}

// Stop stops a pipeline's sources and matching.
func (c *Client) Stop(ctx context.Context, req StopRequest) (StopResult, error) {
	var r StopResult
	return r, c.do(ctx, http.MethodPost, "/v1/stop", req, &r)
}

// Start starts a stopped pipeline again.
func (c *Client) Start(ctx context.Context, pipeline string) (StopResult, error) {
	var r StopResult
	return r, c.do(ctx, http.MethodPost, "/v1/start", StartRequest{Pipeline: pipeline}, &r)
}
