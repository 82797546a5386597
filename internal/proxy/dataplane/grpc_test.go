package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// grpcApp echoes payloads: UnaryCall answers the request's payload (or the status it asks
// for) with a trailer "x-app-trailer"; FullDuplexCall answers every message as it arrives.
type grpcApp struct {
	testgrpc.UnimplementedTestServiceServer
}

func (grpcApp) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-app-trailer", "unary"))
	if s := in.GetResponseStatus(); s != nil && s.GetCode() != 0 {
		return nil, status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	return &testgrpc.SimpleResponse{Payload: in.GetPayload()}, nil
}

func (grpcApp) FullDuplexCall(stream grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			stream.SetTrailer(metadata.Pairs("x-app-trailer", "stream"))
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

func startGRPCApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, grpcApp{})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func grpcClient(t *testing.T, addr string) testgrpc.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return testgrpc.NewTestServiceClient(cc)
}

func payload(s string) *testgrpc.Payload { return &testgrpc.Payload{Body: []byte(s)} }

// startRefusingApp accepts connections and resets them at once: an upstream that fails every
// request. (A closed port could be reused by a later listener of the test.)
func startRefusingApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// meshGRPC sets up client -> caller (h2c) -> mTLS h2 -> callee -> h2c -> gRPC app, with extra
// caller routes: /grpc.testing.TestService/EmptyCall to a cluster with no endpoint and
// /grpc.testing.TestService/CacheableUnaryCall to an endpoint that resets connections.
func meshGRPC(t *testing.T, p *pair) testgrpc.TestServiceClient {
	t.Helper()
	app := startGRPCApp(t)
	mustApply(t, p.callee, inboundConfig("in", p.ca.PEM, appPort{port: 50051, proto: config.HTTP2, target: app}))
	inbound := listenerAddr(t, p.callee, "inbound")

	deadAddr := startRefusingApp(t)

	cl := meshCluster("outbound|50051||grpc.default", 50051, config.HTTP2, []string{calleeID}, inbound)
	table := &config.RouteTable{Name: "svc", VirtualHosts: []*config.VirtualHost{{Name: "grpc", Domains: []string{"*"}, Routes: []*config.Route{
		{Name: "empty", Match: config.RouteMatch{Path: "/grpc.testing.TestService/EmptyCall"}, Clusters: []config.WeightedCluster{{Name: "none", Weight: 1}}},
		{Name: "dead", Match: config.RouteMatch{Path: "/grpc.testing.TestService/CacheableUnaryCall"}, Clusters: []config.WeightedCluster{{Name: "dead", Weight: 1}}},
		{Name: "svc", Match: config.RouteMatch{Prefix: "/grpc.testing.TestService/"}, Clusters: []config.WeightedCluster{{Name: cl.Name, Weight: 1}}},
	}}}}
	mustApply(t, p.caller, outboundConfig("out", p.ca.PEM, table, cl,
		&config.Cluster{Name: "none", Protocol: config.HTTP2},
		&config.Cluster{Name: "dead", Protocol: config.HTTP2, ConnectTimeout: time.Second, Endpoints: []config.Endpoint{{Address: deadAddr}}}))
	return grpcClient(t, listenerAddr(t, p.caller, "outbound"))
}

func TestGRPCUnaryAndTrailers(t *testing.T) {
	p := newPair(t)
	client := meshGRPC(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var trailer metadata.MD
	resp, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: payload("ping")}, grpc.Trailer(&trailer))
	if err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	if got := string(resp.GetPayload().GetBody()); got != "ping" {
		t.Fatalf("payload %q, want ping", got)
	}
	if got := trailer.Get("x-app-trailer"); len(got) != 1 || got[0] != "unary" {
		t.Fatalf("trailer x-app-trailer = %v, want [unary]", got)
	}

	tests := []struct {
		name     string
		call     func() error
		wantCode codes.Code
		wantMsg  string
	}{
		{"app status passes through", func() error {
			_, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.FailedPrecondition), Message: "not ready: 100%"}})
			return err
		}, codes.FailedPrecondition, "not ready: 100%"},
		{"no endpoint", func() error {
			_, err := client.EmptyCall(ctx, &testgrpc.Empty{})
			return err
		}, codes.Unavailable, "Service Unavailable"},
		{"upstream resets connections", func() error {
			_, err := client.CacheableUnaryCall(ctx, &testgrpc.SimpleRequest{})
			return err
		}, codes.Unavailable, "upstream unavailable: "},
		{"unimplemented method reaches the app", func() error {
			_, err := client.UnimplementedCall(ctx, &testgrpc.Empty{})
			return err
		}, codes.Unimplemented, "method UnimplementedCall not implemented"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := status.FromError(tc.call())
			if st.Code() != tc.wantCode {
				t.Fatalf("code %v (%q), want %v", st.Code(), st.Message(), tc.wantCode)
			}
			if len(st.Message()) < len(tc.wantMsg) || st.Message()[:len(tc.wantMsg)] != tc.wantMsg {
				t.Fatalf("message %q, want prefix %q", st.Message(), tc.wantMsg)
			}
		})
	}
}

func TestGRPCBidirectionalStreaming(t *testing.T) {
	p := newPair(t)
	client := meshGRPC(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatalf("FullDuplexCall: %v", err)
	}
	// Ping-pong: each answer must come back before the next message is sent, which only works
	// if both directions stream through both proxies.
	for i := range 10 {
		msg := fmt.Sprintf("msg-%d", i)
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: payload(msg)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if got := string(resp.GetPayload().GetBody()); got != msg {
			t.Fatalf("Recv %d: %q, want %q", i, got, msg)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseSend: %v, want io.EOF (status OK)", err)
	}
	if got := stream.Trailer().Get("x-app-trailer"); len(got) != 1 || got[0] != "stream" {
		t.Fatalf("trailer x-app-trailer = %v, want [stream]", got)
	}
}
