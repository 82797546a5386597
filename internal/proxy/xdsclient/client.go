// Package xdsclient is weft-proxy's xDS client: it keeps a delta ADS stream to weftd, decodes
// and validates the Envoy resources it receives (the documented subset of docs/xds.md) into
// plain config values (internal/proxy/config), and hands each new complete configuration to
// the data plane. A resource the proxy cannot honour is NACKed with a message naming the
// resource and the field; the configuration in force stays.
//
// The rest of the proxy never sees a protobuf. This package must not import control-plane
// packages nor client-go.
package xdsclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/wire"
)

// Defaults of Config.
const (
	DefaultBackoffMin          = 250 * time.Millisecond
	DefaultBackoffMax          = 15 * time.Second
	DefaultInitialFetchTimeout = 15 * time.Second
)

// Config configures a Client.
type Config struct {
	// Address is weftd's xDS host:port.
	Address string
	// TLS is mutual TLS to weftd; the caller provides the client certificate (typically with
	// GetClientCertificate, so that a rotated certificate is used on the next connection).
	// Nil means plaintext, for tests only.
	TLS *tls.Config
	// NodeID is the xDS node ID: the workload ID.
	NodeID string
	// Meta is sent as Node.metadata.
	Meta wire.ProxyMeta
	// BackoffMin and BackoffMax bound the reconnect backoff (exponential, full jitter).
	// Defaults DefaultBackoffMin and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// InitialFetchTimeout is how long a subscribed route configuration, load assignment or
	// ROOTCA secret that has not arrived holds back a new config (as Envoy warms clusters and
	// listeners); past it, the resource is treated as absent. Default
	// DefaultInitialFetchTimeout.
	InitialFetchTimeout time.Duration
}

// withDefaults returns cfg with defaults filled in.
func (cfg Config) withDefaults() Config {
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.InitialFetchTimeout == 0 {
		cfg.InitialFetchTimeout = DefaultInitialFetchTimeout
	}
	return cfg
}

// Validate checks the configuration (after defaults).
func (cfg Config) Validate() error {
	switch {
	case cfg.Address == "":
		return errors.New("xds client: address is required")
	case cfg.NodeID == "":
		return errors.New("xds client: node ID is required")
	case cfg.BackoffMin < 0 || cfg.BackoffMax < 0:
		return fmt.Errorf("xds client: negative backoff (min %s, max %s)", cfg.BackoffMin, cfg.BackoffMax)
	case cfg.BackoffMax < cfg.BackoffMin:
		return fmt.Errorf("xds client: backoff max %s is below backoff min %s", cfg.BackoffMax, cfg.BackoffMin)
	case cfg.InitialFetchTimeout < 0:
		return fmt.Errorf("xds client: negative initial fetch timeout %s", cfg.InitialFetchTimeout)
	}
	return nil
}

// Status is the client's state, for the admin server's /config_dump and metrics.
type Status struct {
	// Connected is true while a stream to weftd is up and has delivered a response.
	Connected bool `json:"connected"`
	// ConnectAttempts counts the streams opened or tried since the client started.
	ConnectAttempts uint64 `json:"connectAttempts"`
	// Version is the version of the config last applied; empty before the first.
	Version string `json:"version,omitempty"`
	// AppliedAt is when that config was applied.
	AppliedAt time.Time `json:"appliedAt,omitzero"`
	// LastNACK is the error detail of the last NACK sent, if any.
	LastNACK string `json:"lastNACK,omitempty"`
	// LastNACKAt is when it was sent.
	LastNACKAt time.Time `json:"lastNACKAt,omitzero"`
	// LastError is the reason the last stream ended or failed to open.
	LastError string `json:"lastError,omitempty"`
	// Waiting lists the resources a new config waits for (referenced, not received yet).
	Waiting []string `json:"waiting,omitempty"`
}

// Client is the proxy's xDS client. Create it with New and run it with Run.
type Client struct {
	cfg     Config
	log     *slog.Logger
	node    *corev3.Node
	running atomic.Bool

	// Owned by the goroutine in Run.
	state      *state
	applied    string         // version of the config last applied
	appliedCfg *config.Config // the config last applied

	mu     sync.Mutex
	status Status
}

// New returns a client; log may be nil.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	md, err := wire.EncodeNodeMetadata(cfg.Meta)
	if err != nil {
		return nil, fmt.Errorf("xds client: %w", err)
	}
	node := &corev3.Node{
		Id:            cfg.NodeID,
		Cluster:       cfg.Meta.Service,
		Metadata:      md,
		UserAgentName: "weft-proxy",
	}
	if cfg.Meta.Version != "" {
		node.UserAgentVersionType = &corev3.Node_UserAgentVersion{UserAgentVersion: cfg.Meta.Version}
	}
	return &Client{
		cfg:   cfg,
		log:   log.With("component", "xdsclient", "xds", cfg.Address),
		node:  node,
		state: newState(),
	}, nil
}

// Status returns a snapshot of the client's state. It is safe to call at any time.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Waiting = append([]string(nil), s.Waiting...)
	return s
}

func (c *Client) updateStatus(f func(*Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.status)
}

// Run keeps a delta ADS stream to weftd until ctx is done, reconnecting with jittered
// exponential backoff, and returns nil then. Each time the resources held form a complete,
// valid configuration that differs from the last one applied, it builds a *config.Config and
// calls apply (from Run's goroutine, one call at a time). A resource that fails decoding or
// validation, or a config apply refuses, is NACKed and the previous config stays in force.
// Losing weftd never clears the config; the resources held survive reconnections (and a new
// Run of the same client). Only one Run may be active at a time.
func (c *Client) Run(ctx context.Context, apply func(*config.Config) error) error {
	if apply == nil {
		return errors.New("xds client: apply is required")
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("xds client: already running")
	}
	defer c.running.Store(false)

	failures := 0
	for {
		c.updateStatus(func(s *Status) { s.ConnectAttempts++ })
		progressed, err := c.session(ctx, apply)
		c.updateStatus(func(s *Status) { s.Connected = false })
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			failures = 0
		}
		failures++
		delay := backoff(c.cfg.BackoffMin, c.cfg.BackoffMax, failures)
		if err == nil {
			err = errors.New("stream ended")
		}
		c.updateStatus(func(s *Status) { s.LastError = err.Error() })
		c.log.Warn("xDS stream ended; reconnecting", "err", err, "in", delay, "failures", failures)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff returns the delay before reconnection attempt number failures (from 1): uniform in
// [0, min(max, min*2^(failures-1))] ("full jitter").
func backoff(lo, hi time.Duration, failures int) time.Duration {
	ceiling := hi
	if failures < 1 {
		failures = 1
	}
	if shift := failures - 1; shift < 62 && lo > 0 {
		if d := lo << shift; d > 0 && d>>shift == lo && d < hi {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}
