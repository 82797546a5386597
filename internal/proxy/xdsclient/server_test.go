package xdsclient

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachetypes "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/internal/wire"
)

// testServer is an in-process ADS management server (go-control-plane) on 127.0.0.1 that
// records the requests it receives.
type testServer struct {
	cache cachev3.SnapshotCache
	xds   serverv3.Server
	addr  string

	mu       sync.Mutex
	grpc     *grpc.Server
	requests []streamRequest
}

// streamRequest is a request as the server received it, with its stream's ID.
type streamRequest struct {
	stream int64
	req    *discoveryv3.DeltaDiscoveryRequest
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{cache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)}
	s.xds = serverv3.NewServer(t.Context(), s.cache, serverv3.CallbackFuncs{
		StreamDeltaRequestFunc: func(stream int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.requests = append(s.requests, streamRequest{stream, proto.Clone(req).(*discoveryv3.DeltaDiscoveryRequest)})
			return nil
		},
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.addr = lis.Addr().String()
	s.serve(lis)
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) serve(lis net.Listener) {
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	s.mu.Lock()
	s.grpc = g
	s.mu.Unlock()
	go func() { _ = g.Serve(lis) }()
}

// stop closes the listener and every connection.
func (s *testServer) stop() {
	s.mu.Lock()
	g := s.grpc
	s.mu.Unlock()
	g.Stop()
}

// restart serves again on the same address.
func (s *testServer) restart(t *testing.T) {
	t.Helper()
	var lis net.Listener
	waitFor(t, "listening again on "+s.addr, func() bool {
		var err error
		lis, err = net.Listen("tcp", s.addr)
		return err == nil
	})
	s.serve(lis)
}

func (s *testServer) set(t *testing.T, nodeID string, snap *cachev3.Snapshot) {
	t.Helper()
	if err := s.cache.SetSnapshot(context.Background(), nodeID, snap); err != nil {
		t.Fatalf("set snapshot: %v", err)
	}
}

// received returns the requests received so far.
func (s *testServer) received() []streamRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// nacks returns the error details of the NACKs received so far.
func (s *testServer) nacks() []string {
	var out []string
	for _, r := range s.received() {
		if d := r.req.GetErrorDetail(); d != nil {
			out = append(out, d.GetMessage())
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// meshSnapshot describes the snapshot of a sidecar serving ports 8080 (HTTP/2) and 9000
// (TCP) and calling web (HTTP) and db (TCP).
type meshSnapshot struct {
	webEndpoints []string
	// withoutWeb drops web's listener, route, cluster and endpoints.
	withoutWeb bool
	// withoutDBEndpoints drops db's load assignment.
	withoutDBEndpoints bool
	// redisOnWeb puts an unsupported filter on web's listener.
	redisOnWeb bool
	// dbLocalPort, when set, moves db's outbound listener.
	dbLocalPort int32
}

func (m meshSnapshot) db() wire.Upstream {
	u := dbUpstream
	if m.dbLocalPort != 0 {
		u.LocalPort = m.dbLocalPort
	}
	return u
}

func (m meshSnapshot) build(t *testing.T, version string) *cachev3.Snapshot {
	t.Helper()
	res := map[resourcev3.Type][]cachetypes.Resource{
		resourcev3.ListenerType: {inboundListener(t, "127.0.0.1", 15006), outboundTCPListener(t, m.db())},
		resourcev3.ClusterType: {
			staticCluster(t, "inbound|8080", "127.0.0.1", 9001, true),
			staticCluster(t, "inbound|9000", "127.0.0.1", 9002, false),
			edsCluster(t, "db", 5432, wire.ALPNTCP, "spiffe://weft.local/ns/default/sa/db"),
		},
		resourcev3.SecretType: {rootCASecret(testCA(t))},
	}
	if !m.withoutDBEndpoints {
		res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType], loadAssignment("outbound|5432||db.default", "10.0.2.1"))
	}
	if !m.withoutWeb {
		l := outboundHTTPListener(t, webUpstream)
		if m.redisOnWeb {
			l.FilterChains[0].Filters[0].Name = "envoy.filters.network.redis_proxy"
			l.FilterChains[0].Filters[0].GetTypedConfig().TypeUrl = typeURLPrefix + "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy"
		}
		res[resourcev3.ListenerType] = append(res[resourcev3.ListenerType], l)
		res[resourcev3.RouteType] = append(res[resourcev3.RouteType], serviceRoutes(webUpstream))
		res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType],
			edsCluster(t, "web", 80, wire.ALPNHTTP11, "spiffe://weft.local/ns/default/sa/web"))
		res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType],
			loadAssignment("outbound|80||web.default", m.webEndpoints...))
	}
	snap, err := cachev3.NewSnapshot(version, res)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return snap
}

var errEmptyConfig = errors.New("apply called with a config without listeners")
