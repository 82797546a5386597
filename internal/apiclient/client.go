package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/weftmesh/weft/internal/wire"
)

// ErrNotFound is returned when weftd answers 404.
var ErrNotFound = errors.New("not found")

// APIError is a non-2xx answer from weftd.
type APIError struct {
	StatusCode int
	Body       Error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Body.Message)
	if b.Len() == 0 {
		fmt.Fprintf(&b, "weftd answered %d", e.StatusCode)
	}
	for _, d := range e.Body.Details {
		b.WriteString("\n  ")
		b.WriteString(d.String())
	}
	return b.String()
}

// Is lets errors.Is(err, ErrNotFound) match a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// String renders a detail as "source: Kind ns/name: field: message".
func (d ErrorDetail) String() string {
	var parts []string
	if d.Source != "" {
		parts = append(parts, d.Source)
	}
	if d.Kind != "" || d.Name != "" {
		id := d.Name
		if d.Namespace != "" {
			id = d.Namespace + "/" + d.Name
		}
		parts = append(parts, strings.TrimSpace(d.Kind+" "+id))
	}
	if d.Field != "" {
		parts = append(parts, d.Field)
	}
	parts = append(parts, d.Message)
	return strings.Join(parts, ": ")
}

// Validate checks that the config can be used.
func (c *ClientConfig) Validate() error {
	u, err := url.Parse(c.Server)
	switch {
	case c.Server == "":
		return errors.New("server is required")
	case err != nil || u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("server %q must be an https:// URL", c.Server)
	case c.Token == "":
		return errors.New("token is required")
	case c.CA == "":
		return errors.New("ca is required")
	}
	return nil
}

// CertPool returns the pool of the config's CA.
func (c *ClientConfig) CertPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.CA)) {
		return nil, errors.New("ca holds no PEM certificate")
	}
	return pool, nil
}

// Client calls weftd's API.
type Client struct {
	base    *url.URL
	token   string
	tlsConf *tls.Config
	http    *http.Client
	// certs, when set, authenticates with a client certificate (WithClientCertificate).
	certs *certClients
}

// New returns a client for cfg.
func New(cfg *ClientConfig, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pool, err := cfg.CertPool()
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(strings.TrimRight(cfg.Server, "/"))
	tlsConf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c := &Client{base: base, token: cfg.Token, tlsConf: tlsConf, http: newHTTPClient(tlsConf)}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

func newHTTPClient(tlsConf *tls.Config) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     tlsConf,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     60 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Close releases idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	if c.certs != nil {
		c.certs.close()
	}
}

// do makes one call: with the client certificate when there is one (and then, should weftd
// refuse it, once more with the bearer token), else with the bearer token.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var data []byte
	if in != nil {
		var err error
		if data, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
	}
	if c.certs != nil {
		if hc := c.certs.client(); hc != nil {
			certErr := c.send(ctx, hc, "", method, path, data, out)
			if !refusedCertificate(certErr) || ctx.Err() != nil {
				return certErr
			}
			if err := c.send(ctx, c.http, c.token, method, path, data, out); err != nil {
				return fmt.Errorf("%w (with the workload certificate: %v)", err, certErr)
			}
			return nil
		}
	}
	return c.send(ctx, c.http, c.token, method, path, data, out)
}

// send sends one request with hc, with the bearer token unless it is empty, and decodes the
// answer into out.
func (c *Client) send(ctx context.Context, hc *http.Client, token, method, path string, data []byte, out any) error {
	var body io.Reader
	if data != nil {
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("cannot reach weftd at %s (is it running?): %w", c.base, op)
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		apiErr := &APIError{StatusCode: resp.StatusCode}
		if json.Unmarshal(answer, &apiErr.Body) != nil || apiErr.Body.Message == "" {
			apiErr.Body.Message = fmt.Sprintf("weftd answered %s: %s", resp.Status, strings.TrimSpace(string(answer)))
		}
		return apiErr
	}
	if out != nil && len(answer) > 0 {
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
		}
	}
	return nil
}

// Version asks weftd for its version.
func (c *Client) Version(ctx context.Context) (*VersionInfo, error) {
	var v VersionInfo
	return &v, c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
}

// Apply validates and stores a set of resources, all or nothing.
func (c *Client) Apply(ctx context.Context, req *ApplyRequest) (*ApplyResponse, error) {
	var out ApplyResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/apply", req, &out)
}

// List lists the resources of a kind (plural, e.g. "services"); namespace "" lists all.
func (c *Client) List(ctx context.Context, kind, namespace string) ([]json.RawMessage, error) {
	path := "/v1/resources/" + url.PathEscape(kind)
	if namespace != "" {
		path += "?namespace=" + url.QueryEscape(namespace)
	}
	var out ResourceList
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Get reads one resource. Cluster-scoped kinds use namespace "-".
func (c *Client) Get(ctx context.Context, kind, namespace, name string) (json.RawMessage, error) {
	var out json.RawMessage
	if err := c.do(ctx, http.MethodGet, resourcePath(kind, namespace, name), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Delete deletes one resource.
func (c *Client) Delete(ctx context.Context, kind, namespace, name string) error {
	return c.do(ctx, http.MethodDelete, resourcePath(kind, namespace, name), nil, nil)
}

func resourcePath(kind, namespace, name string) string {
	if namespace == "" {
		namespace = "-"
	}
	return "/v1/resources/" + url.PathEscape(kind) + "/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}

// Workloads lists the registered workloads.
func (c *Client) Workloads(ctx context.Context) ([]wire.Workload, error) {
	var out WorkloadList
	if err := c.do(ctx, http.MethodGet, "/v1/workloads", nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// RegisterWorkload registers (or re-registers) a workload and returns its lease.
func (c *Client) RegisterWorkload(ctx context.Context, w *wire.Workload) (*RegisterResponse, error) {
	var out RegisterResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/workloads", w, &out)
}

// RenewLease renews a workload's lease and returns weftd's answer (which may ask the proxy to
// renew its certificate); errors.Is(err, ErrNotFound) when weftd does not know the workload.
func (c *Client) RenewLease(ctx context.Context, id string) (*RegisterResponse, error) {
	var out RegisterResponse
	if err := c.do(ctx, http.MethodPut, "/v1/workloads/"+url.PathEscape(id)+"/lease", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeregisterWorkload removes a workload from the registry.
func (c *Client) DeregisterWorkload(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/workloads/"+url.PathEscape(id), nil, nil)
}

// SignCertificate sends a CSR and returns the signed chain and the trust bundle.
func (c *Client) SignCertificate(ctx context.Context, req *CertificateRequest) (*CertificateResponse, error) {
	var out CertificateResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/certificates", req, &out)
}
