package xds

import (
	"context"
	"fmt"
	"log/slog"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callbacks connects go-control-plane's stream events to the server. They run synchronously
// on each stream's goroutine, a request's before the cache sees the request.
type callbacks struct{ s *Server }

var _ serverv3.Callbacks = callbacks{}

// OnStreamOpen accepts every state-of-the-world stream; the node is known at its first request.
func (callbacks) OnStreamOpen(context.Context, int64, string) error { return nil }

// OnStreamClosed forgets a state-of-the-world stream.
func (c callbacks) OnStreamClosed(id int64, _ *corev3.Node) {
	c.s.streamClosed(streamKey{id: id})
}

// OnDeltaStreamOpen accepts every delta stream.
func (callbacks) OnDeltaStreamOpen(context.Context, int64, string) error { return nil }

// OnDeltaStreamClosed forgets a delta stream.
func (c callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	c.s.streamClosed(streamKey{delta: true, id: id})
}

// OnStreamRequest tracks a state-of-the-world request. A NACK is made to claim the version it
// refuses, so that the cache does not send the same resources straight back.
func (c callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	refused, err := c.s.onRequest(streamKey{id: id}, request{
		node:        req.GetNode(),
		typeURL:     req.GetTypeUrl(),
		nonce:       req.GetResponseNonce(),
		version:     req.GetVersionInfo(),
		errorDetail: req.GetErrorDetail(),
		names:       req.GetResourceNames(),
	})
	if refused != "" {
		req.VersionInfo = refused
	}
	return err
}

// OnStreamResponse remembers what a state-of-the-world response's nonce stands for.
func (c callbacks) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	c.s.onResponse(streamKey{id: id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

// OnStreamDeltaRequest tracks a delta request.
func (c callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	_, err := c.s.onRequest(streamKey{delta: true, id: id}, request{
		node:        req.GetNode(),
		typeURL:     req.GetTypeUrl(),
		nonce:       req.GetResponseNonce(),
		errorDetail: req.GetErrorDetail(),
		subscribe:   req.GetResourceNamesSubscribe(),
		unsubscribe: req.GetResourceNamesUnsubscribe(),
	})
	return err
}

// OnStreamDeltaResponse remembers what a delta response's nonce stands for.
func (c callbacks) OnStreamDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	c.s.onResponse(streamKey{delta: true, id: id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

// OnFetchRequest refuses REST fetches: only ADS is served.
func (callbacks) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "weftd serves xDS over ADS only")
}

// OnFetchResponse is never reached.
func (callbacks) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}

// cacheLogger sends go-control-plane's logs to slog at debug level (its warnings describe
// ordinary protocol events), errors at warn.
type cacheLogger struct{ log *slog.Logger }

func (l cacheLogger) Debugf(format string, args ...any) { l.debug(format, args...) }
func (l cacheLogger) Infof(format string, args ...any)  { l.debug(format, args...) }
func (l cacheLogger) Warnf(format string, args ...any)  { l.debug(format, args...) }
func (l cacheLogger) Errorf(format string, args ...any) {
	l.log.Warn("xds cache: " + fmt.Sprintf(format, args...))
}

func (l cacheLogger) debug(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("xds cache: " + fmt.Sprintf(format, args...))
	}
}
