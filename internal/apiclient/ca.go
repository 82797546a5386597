package apiclient

import (
	"context"
	"net/http"
)

// RotateCA starts a rotation of the mesh's CA (admin only) and returns the CA's status.
func (c *Client) RotateCA(ctx context.Context, req *CARotateRequest) (*CAStatus, error) {
	var out CAStatus
	if err := c.do(ctx, http.MethodPost, "/v1/ca/rotate", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CAStatus returns the CA's status: the phase of a rotation, the roots and who lags.
func (c *Client) CAStatus(ctx context.Context) (*CAStatus, error) {
	var out CAStatus
	if err := c.do(ctx, http.MethodGet, "/v1/ca/status", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
