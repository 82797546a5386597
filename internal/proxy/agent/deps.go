package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/dataplane"
	"github.com/weftmesh/weft/internal/proxy/xdsclient"
	"github.com/weftmesh/weft/internal/wire"
)

// dataPlane is what the agent needs of *dataplane.Runtime.
type dataPlane interface {
	Apply(c *config.Config) error
	Current() *config.Config
	// PlaintextReport feeds GET /mtls/plaintext.
	PlaintextReport() wire.PlaintextReport
	Drain(ctx context.Context) error
	Close() error
}

// xdsClient is what the agent needs of *xdsclient.Client.
type xdsClient interface {
	Run(ctx context.Context, apply func(*config.Config) error) error
	// Status is shown in /config_dump.
	Status() any
}

// deps are the agent's collaborators and timing knobs; tests replace them.
type deps struct {
	newDataPlane func(dataplane.Config) (dataPlane, error)
	newXDS       func(xdsclient.Config, *slog.Logger) (xdsClient, error)
	// retryMin and retryMax bound the backoff of registration, lease and certificate retries.
	retryMin, retryMax time.Duration
	// callTimeout bounds one call to weftd's API.
	callTimeout time.Duration
}

func realDeps() deps {
	return deps{
		newDataPlane: func(c dataplane.Config) (dataPlane, error) { return dataplane.New(c) },
		newXDS: func(c xdsclient.Config, log *slog.Logger) (xdsClient, error) {
			cl, err := xdsclient.New(c, log)
			if err != nil {
				return nil, err
			}
			return xdsStatus{cl}, nil
		},
		retryMin:    250 * time.Millisecond,
		retryMax:    10 * time.Second,
		callTimeout: 10 * time.Second,
	}
}

// xdsStatus adapts *xdsclient.Client to xdsClient.
type xdsStatus struct{ *xdsclient.Client }

func (x xdsStatus) Status() any { return x.Client.Status() }
