package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weftmesh/weft/internal/proxy/config"
)

const (
	// maxMessageBytes bounds one xDS response (gRPC's default of 4 MiB is small for a
	// gateway's routes).
	maxMessageBytes = 64 << 20
	// maxRefusals bounds the refusals listed in one NACK's error_detail.
	maxRefusals = 10
)

type adsStream = grpc.BidiStreamingClient[discoveryv3.DeltaDiscoveryRequest, discoveryv3.DeltaDiscoveryResponse]

// session dials weftd, runs one delta ADS stream until it fails or ctx is done, and returns
// why it ended. progressed reports whether the stream delivered at least one response.
func (c *Client) session(ctx context.Context, apply func(*config.Config) error) (progressed bool, err error) {
	creds := insecure.NewCredentials()
	if c.cfg.TLS != nil {
		creds = credentials.NewTLS(c.cfg.TLS)
	}
	conn, err := grpc.NewClient(c.cfg.Address,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes)),
		grpc.WithUserAgent("weft-proxy"),
	)
	if err != nil {
		return false, fmt.Errorf("creating gRPC client for %s: %w", c.cfg.Address, err)
	}
	defer conn.Close()

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(sctx)
	if err != nil {
		return false, fmt.Errorf("opening ADS stream to %s: %w", c.cfg.Address, err)
	}

	responses := make(chan *discoveryv3.DeltaDiscoveryResponse)
	recvErr := make(chan error, 1)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case responses <- resp:
			case <-sctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-recvDone
	}()

	// sendAll sends requests; when the stream broke, the reason comes from Recv.
	sendAll := func(reqs []*discoveryv3.DeltaDiscoveryRequest) error {
		for _, req := range reqs {
			err := stream.Send(req)
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				select {
				case rerr := <-recvErr:
					return fmt.Errorf("ADS stream to %s: %w", c.cfg.Address, rerr)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return fmt.Errorf("sending to %s: %w", c.cfg.Address, err)
		}
		return nil
	}

	now := time.Now()
	c.state.restartFetchTimers(now, c.cfg.InitialFetchTimeout)
	c.state.reconcile(now, c.cfg.InitialFetchTimeout) // the initial requests carry all subscriptions
	if err := sendAll(c.initialRequests()); err != nil {
		return false, err
	}

	fetchTimer := time.NewTimer(time.Hour)
	defer fetchTimer.Stop()
	for {
		if d, ok := c.state.nextDeadline(); ok {
			fetchTimer.Reset(time.Until(d))
		} else {
			fetchTimer.Stop()
		}
		select {
		case <-ctx.Done():
			return progressed, ctx.Err()
		case err := <-recvErr:
			return progressed, fmt.Errorf("ADS stream to %s: %w", c.cfg.Address, err)
		case resp := <-responses:
			if !progressed {
				progressed = true
				c.updateStatus(func(s *Status) { s.Connected = true })
				c.log.Info("xDS stream established")
			}
			if err := sendAll(c.handleResponse(resp, apply)); err != nil {
				return progressed, err
			}
		case <-fetchTimer.C:
			c.onFetchTimeout(apply)
		}
	}
}

// initialRequests opens each type's subscription on a new stream, telling the server the
// versions held (initial_resource_versions) so that it sends only what changed. The node
// goes on the first request.
func (c *Client) initialRequests() []*discoveryv3.DeltaDiscoveryRequest {
	var reqs []*discoveryv3.DeltaDiscoveryRequest
	for _, rt := range resourceTypes {
		ts := c.state.types[rt.url]
		req := &discoveryv3.DeltaDiscoveryRequest{
			TypeUrl:                 rt.url,
			InitialResourceVersions: ts.versions(),
		}
		if rt.wildcard {
			req.ResourceNamesSubscribe = []string{wildcardName}
		} else {
			// An empty first request would be a (legacy) wildcard subscription.
			if len(ts.subscribed) == 0 {
				continue
			}
			for name := range ts.subscribed {
				req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, name)
			}
			slices.Sort(req.ResourceNamesSubscribe)
		}
		reqs = append(reqs, req)
	}
	if len(reqs) > 0 {
		reqs[0].Node = c.node
	}
	return reqs
}

// handleResponse takes in one response and returns the requests to send: its ACK or NACK,
// then any subscription changes it implies.
func (c *Client) handleResponse(resp *discoveryv3.DeltaDiscoveryResponse, apply func(*config.Config) error) []*discoveryv3.DeltaDiscoveryRequest {
	ack := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}
	reqs := []*discoveryv3.DeltaDiscoveryRequest{ack}
	ts := c.state.types[resp.GetTypeUrl()]
	if ts == nil {
		c.nack(ack, []string{fmt.Sprintf("unsupported resource type %q", resp.GetTypeUrl())})
		return reqs
	}
	c.log.Debug("xDS response", "type", resp.GetTypeUrl(), "nonce", resp.GetNonce(),
		"resources", len(resp.GetResources()), "removed", len(resp.GetRemovedResources()))
	saved := ts.save()
	refusals := ts.ingest(resp.GetResources(), resp.GetRemovedResources())
	if err := c.tryApply(apply); err != nil {
		// The data plane refused the config: the whole response is rejected.
		ts.restore(saved)
		refusals = append(refusals, err.Error())
	}
	if len(refusals) > 0 {
		c.nack(ack, refusals)
	}
	for _, ch := range c.state.reconcile(time.Now(), c.cfg.InitialFetchTimeout) {
		c.log.Debug("xDS subscription change", "type", ch.typeURL, "subscribe", ch.subscribe, "unsubscribe", ch.unsubscribe)
		reqs = append(reqs, &discoveryv3.DeltaDiscoveryRequest{
			TypeUrl:                  ch.typeURL,
			ResourceNamesSubscribe:   ch.subscribe,
			ResourceNamesUnsubscribe: ch.unsubscribe,
		})
	}
	return reqs
}

// nack turns ack into a NACK listing the refusals.
func (c *Client) nack(ack *discoveryv3.DeltaDiscoveryRequest, refusals []string) {
	msg := strings.Join(refusals[:min(len(refusals), maxRefusals)], "; ")
	if n := len(refusals) - maxRefusals; n > 0 {
		msg += fmt.Sprintf("; and %d more", n)
	}
	ack.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: msg}
	c.log.Warn("xDS NACK", "type", ack.GetTypeUrl(), "nonce", ack.GetResponseNonce(), "detail", msg)
	c.updateStatus(func(s *Status) {
		s.LastNACK = msg
		s.LastNACKAt = time.Now()
	})
}

// tryApply builds a config from the resources held and applies it if it is complete and
// differs from the one in force. It returns apply's error.
func (c *Client) tryApply(apply func(*config.Config) error) error {
	cfg, missing := c.state.build()
	c.updateStatus(func(s *Status) { s.Waiting = missing })
	if cfg == nil {
		c.log.Debug("config incomplete; waiting", "missing", missing)
		return nil
	}
	carryReferencedClusters(cfg, c.appliedCfg)
	if cfg.Version == c.applied {
		return nil
	}
	if err := apply(cfg); err != nil {
		return fmt.Errorf("config %s refused by the proxy: %w", cfg.Version, err)
	}
	c.applied, c.appliedCfg = cfg.Version, cfg
	c.updateStatus(func(s *Status) {
		s.Version = cfg.Version
		s.AppliedAt = time.Now()
	})
	c.log.Info("config applied", "version", cfg.Version, "listeners", len(cfg.Listeners),
		"clusters", len(cfg.Clusters), "routes", len(cfg.Routes))
	return nil
}

// onFetchTimeout gives up waiting for the subscribed resources that did not arrive in time,
// treating them as absent, and applies the config that completes.
func (c *Client) onFetchTimeout(apply func(*config.Config) error) {
	expired := c.state.expire(time.Now())
	if len(expired) == 0 {
		return
	}
	c.log.Warn("xDS resources did not arrive within the initial fetch timeout; treating them as absent",
		"resources", expired, "timeout", c.cfg.InitialFetchTimeout)
	if err := c.tryApply(apply); err != nil {
		c.log.Error("applying config", "err", err)
		c.updateStatus(func(s *Status) { s.LastError = err.Error() })
	}
}
