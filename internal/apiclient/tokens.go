package apiclient

import (
	"context"
	"net/http"
	"net/url"
)

// WithToken returns a copy of c that authenticates with token instead of c.Token.
func (c *ClientConfig) WithToken(token string) *ClientConfig {
	cp := *c
	cp.Token = token
	return &cp
}

// CreateJoinToken creates a join token for one identity. The answer is the only time the
// token is shown.
func (c *Client) CreateJoinToken(ctx context.Context, req *CreateJoinTokenRequest) (*CreateJoinTokenResponse, error) {
	var out CreateJoinTokenResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
}

// JoinTokens lists the join tokens, revoked and expired ones included, without their secrets.
func (c *Client) JoinTokens(ctx context.Context) ([]JoinToken, error) {
	var out JoinTokenList
	if err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// RevokeJoinToken revokes a join token by ID; errors.Is(err, ErrNotFound) when weftd does not
// know it.
func (c *Client) RevokeJoinToken(ctx context.Context, id string) (*JoinToken, error) {
	var out JoinToken
	return &out, c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, &out)
}
