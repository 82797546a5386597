package xds

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// testTimeout bounds every wait of these tests.
const testTimeout = 10 * time.Second

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a running xDS server on a loopback gRPC server.
type env struct {
	srv  *Server
	addr string
	reg  *prometheus.Registry
	logs *syncBuffer
}

// startServer serves xDS on 127.0.0.1:0 and runs the push loop until the test ends.
func startServer(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.srv = NewServer(cfg, log, e.reg)
	g := grpc.NewServer()
	e.srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- e.srv.Run(ctx) }()
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
		g.Stop()
	})
	return e
}

// dial opens a client connection to the test server.
func (e *env) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// counterValue reads a counter (with the given label values) from the registry.
func (e *env) metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// eventually polls cond until it holds or the test deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(testTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// Test mesh: Services api (http) and db (tcp) in "default", each with workloads.

const testBundle = "-----BEGIN CERTIFICATE-----\nVEVTVA==\n-----END CERTIFICATE-----\n"

func testSnapshot(apiAddrs, dbAddrs []string) *mesh.Snapshot {
	s := &mesh.Snapshot{
		Mesh:        &v1alpha1.Mesh{Metadata: v1alpha1.ObjectMeta{Name: "default"}},
		Services:    map[mesh.NamespacedName]*v1alpha1.Service{},
		TrustBundle: []byte(testBundle),
	}
	addService(s, "api", v1alpha1.ServicePort{Name: "http", Port: 80, AppProtocol: v1alpha1.ProtocolHTTP})
	addService(s, "db", v1alpha1.ServicePort{Name: "pg", Port: 5432, AppProtocol: v1alpha1.ProtocolTCP})
	for i, a := range apiAddrs {
		s.Workloads = append(s.Workloads, testWorkload("api", i, a))
	}
	for i, a := range dbAddrs {
		s.Workloads = append(s.Workloads, testWorkload("db", i, a))
	}
	return s
}

func addService(s *mesh.Snapshot, name string, ports ...v1alpha1.ServicePort) {
	s.Services[mesh.NamespacedName{Namespace: "default", Name: name}] = &v1alpha1.Service{
		Metadata: v1alpha1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:     v1alpha1.ServiceSpec{Ports: ports},
	}
}

func testWorkload(service string, i int, addr string) *wire.Workload {
	return &wire.Workload{
		ID: service + "-" + string(rune('a'+i)) + ".default", Service: service, Namespace: "default",
		ServiceAccount: service, Address: addr, InboundPort: 15006,
	}
}

// sidecarMeta is a sidecar that calls one upstream.
func sidecarMeta(service string, up wire.Upstream) wire.ProxyMeta {
	return wire.ProxyMeta{
		Mode: wire.ModeSidecar, Service: service, Namespace: "default", ServiceAccount: service,
		Address: "127.0.0.1", Upstreams: []wire.Upstream{up},
	}
}

var (
	apiUpstream = wire.Upstream{Service: "api", Namespace: "default", Port: 80, LocalPort: 18080}
	dbUpstream  = wire.Upstream{Service: "db", Namespace: "default", Port: 5432, LocalPort: 15432}
)

// response is what a test ADS client received, for either protocol.
type response struct {
	typeURL   string
	version   string
	resources []*anypb.Any
}

// endpointsOf decodes the addresses of the assignment for cluster in a response.
func endpointsOf(t *testing.T, r response, cluster string) ([]string, bool) {
	t.Helper()
	for _, a := range r.resources {
		var cla endpointv3.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			t.Fatalf("decoding assignment: %v", err)
		}
		if cla.GetClusterName() != cluster {
			continue
		}
		var out []string
		for _, loc := range cla.GetEndpoints() {
			for _, ep := range loc.GetLbEndpoints() {
				out = append(out, ep.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
			}
		}
		return out, true
	}
	return nil, false
}

// adsClient is a raw ADS client written for these tests. It subscribes to types, then ACKs
// every response (or NACKs it when nack returns a message), and hands the responses to the
// test in order.
type adsClient struct {
	responses chan response
	// received counts the responses received.
	received atomic.Int64
	cancel   context.CancelFunc
	done     chan struct{}
}

// subscription is a type and the names asked for (nil: all).
type subscription struct {
	typeURL string
	names   []string
}

// nackFunc returns a message to NACK a response with, or "" to ACK it.
type nackFunc func(r response) string

func (c *adsClient) close() {
	c.cancel()
	<-c.done
}

// next returns the next response or fails the test at the deadline.
func (c *adsClient) next(t *testing.T) response {
	t.Helper()
	select {
	case r, ok := <-c.responses:
		if !ok {
			t.Fatal("stream ended")
		}
		return r
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for a response")
	}
	return response{}
}

// drain discards the responses received so far.
func (c *adsClient) drain() {
	for {
		select {
		case <-c.responses:
		default:
			return
		}
	}
}

// waitFor skips responses until one satisfies pred.
func (c *adsClient) waitFor(t *testing.T, what string, pred func(response) bool) response {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case r, ok := <-c.responses:
			if !ok {
				t.Fatalf("stream ended waiting for %s", what)
			}
			if pred(r) {
				return r
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// connectSotw opens a state-of-the-world ADS stream for a node.
func connectSotw(t *testing.T, conn *grpc.ClientConn, node *corev3.Node, subs []subscription, nack nackFunc) *adsClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	names := map[string][]string{}
	for i, sub := range subs {
		names[sub.typeURL] = sub.names
		req := &discoveryv3.DiscoveryRequest{TypeUrl: sub.typeURL, ResourceNames: sub.names}
		if i == 0 {
			req.Node = node
		}
		if err := stream.Send(req); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	c := &adsClient{responses: make(chan response, 256), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.responses)
		accepted := map[string]string{}
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			r := response{typeURL: resp.GetTypeUrl(), version: resp.GetVersionInfo(), resources: resp.GetResources()}
			c.received.Add(1)
			c.responses <- r
			req := &discoveryv3.DiscoveryRequest{
				TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(), ResourceNames: names[resp.GetTypeUrl()],
			}
			if msg := nackMessage(nack, r); msg != "" {
				req.VersionInfo = accepted[resp.GetTypeUrl()]
				req.ErrorDetail = &rpcstatus.Status{Code: 3, Message: msg}
			} else {
				accepted[resp.GetTypeUrl()] = resp.GetVersionInfo()
				req.VersionInfo = resp.GetVersionInfo()
			}
			if err := stream.Send(req); err != nil {
				return
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

// connectDelta opens a delta ADS stream for a node.
func connectDelta(t *testing.T, conn *grpc.ClientConn, node *corev3.Node, subs []subscription, nack nackFunc) *adsClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for i, sub := range subs {
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: sub.typeURL, ResourceNamesSubscribe: sub.names}
		if i == 0 {
			req.Node = node
		}
		if err := stream.Send(req); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	c := &adsClient{responses: make(chan response, 256), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.responses)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			r := response{typeURL: resp.GetTypeUrl(), version: resp.GetSystemVersionInfo()}
			for _, res := range resp.GetResources() {
				r.resources = append(r.resources, res.GetResource())
			}
			c.received.Add(1)
			c.responses <- r
			req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}
			if msg := nackMessage(nack, r); msg != "" {
				req.ErrorDetail = &rpcstatus.Status{Code: 3, Message: msg}
			}
			if err := stream.Send(req); err != nil {
				return
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func nackMessage(nack nackFunc, r response) string {
	if nack == nil {
		return ""
	}
	return nack(r)
}
