package xds

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/xds"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// namedServer answers UnaryCall with its own name.
type namedServer struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (s namedServer) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{ServerId: s.name}, nil
}

// startNamedServer serves the test service on 127.0.0.1:0 and returns its port.
func startNamedServer(t *testing.T, name string) int32 {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(g, namedServer{name: name})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return int32(lis.Addr().(*net.TCPAddr).Port)
}

// TestProxylessGRPCClient has a real grpc-go client resolve xds:///greeter.default:50051
// through the server and balance its calls over the two proxyless greeter workloads.
func TestProxylessGRPCClient(t *testing.T) {
	e := startServer(t, Config{Debounce: 20 * time.Millisecond})

	snap := &mesh.Snapshot{
		Mesh:     &v1alpha1.Mesh{Metadata: v1alpha1.ObjectMeta{Name: "default"}},
		Services: map[mesh.NamespacedName]*v1alpha1.Service{},
	}
	addService(snap, "greeter", v1alpha1.ServicePort{Name: "grpc", Port: 50051, AppProtocol: v1alpha1.ProtocolGRPC})
	for _, name := range []string{"greeter-a", "greeter-b"} {
		snap.Workloads = append(snap.Workloads, &wire.Workload{
			ID: name + ".default", Service: "greeter", Namespace: "default", ServiceAccount: "greeter",
			Address: "127.0.0.1", InboundPort: startNamedServer(t, name), Proxyless: true,
		})
	}
	// A workload behind a sidecar is not for proxyless clients: it must never be called.
	snap.Workloads = append(snap.Workloads, &wire.Workload{
		ID: "greeter-c.default", Service: "greeter", Namespace: "default", ServiceAccount: "greeter",
		Address: "127.0.0.1", InboundPort: 1,
	})
	e.srv.Update(snap)

	// grpc-go reads GRPC_XDS_BOOTSTRAP_CONFIG once, when the process starts, so the bootstrap
	// goes to a resolver built for this test instead.
	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": "greeter-client"}
	}`, e.addr)
	resolver, err := xds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatalf("building the xds resolver: %v", err)
	}
	conn, err := grpc.NewClient("xds:///greeter.default:50051",
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(resolver))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := testgrpc.NewTestServiceClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	call := func() string {
		t.Helper()
		resp, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatalf("UnaryCall: %v", err)
		}
		return resp.GetServerId()
	}

	// Until both backends are connected, round robin only has one: call (a bounded number
	// of times) until both answered.
	seen := map[string]int{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		seen[call()]++
	}
	if len(seen) != 2 {
		t.Fatalf("calls reached %v, want both greeter-a and greeter-b", seen)
	}

	// Then round robin alternates between them.
	const calls = 20
	counts := map[string]int{}
	for range calls {
		counts[call()]++
	}
	for _, name := range []string{"greeter-a", "greeter-b"} {
		if counts[name] < calls/2-2 || counts[name] > calls/2+2 {
			t.Errorf("%s answered %d of %d calls, want about half (%v)", name, counts[name], calls, counts)
		}
	}
	if st, ok := e.status("greeter-client"); !ok || st.Mode != wire.ModeProxyless {
		t.Errorf("status of the grpc client = %+v, want a proxyless node", st)
	}
}
