package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// WithToken returns a copy of c that authenticates with token instead of c.Token.
func (c *ClientConfig) WithToken(token string) *ClientConfig {
	cp := *c
	cp.Token = token
	return &cp
}

// NewWithToken returns a client for cfg that authenticates with token (a join token, say)
// instead of cfg.Token, which may be empty.
func NewWithToken(cfg *ClientConfig, token string) (*Client, error) {
	if token == "" {
		return nil, errors.New("the bearer token is empty")
	}
	return New(cfg.WithToken(token))
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
	return out.Items, c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
}

// RevokeJoinToken revokes a join token by ID; errors.Is(err, ErrNotFound) when weftd does not
// know it.
func (c *Client) RevokeJoinToken(ctx context.Context, id string) (*JoinToken, error) {
	var out JoinToken
	return &out, c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, &out)
}
