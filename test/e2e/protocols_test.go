package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// echoGRPC is the application behind a grpc port: it echoes payloads, sets a trailer and
// answers with the status the request asks for.
type echoGRPC struct {
	testgrpc.UnimplementedTestServiceServer
}

func (echoGRPC) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	grpc.SetTrailer(ctx, metadata.Pairs("x-served-by", "echo"))
	if s := in.GetResponseStatus(); s != nil && s.GetCode() != 0 {
		return nil, status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	return &testgrpc.SimpleResponse{Payload: in.GetPayload(), Username: "echo"}, nil
}

func (echoGRPC) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			stream.SetTrailer(metadata.Pairs("x-stream-end", "clean"))
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

// startGRPCEcho starts the echoGRPC application on 127.0.0.1 and returns its address.
func startGRPCEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, echoGRPC{})
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

func TestGRPCTCPAndH2CThroughTheMesh(t *testing.T) {
	w := newWeftd(t)
	w.mustApply(t, `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  ports:
  - {name: grpc, port: 9090, appProtocol: grpc}
  - {name: tcp, port: 7000, appProtocol: tcp}
  - {name: http, port: 8080, appProtocol: http}
`)
	// The application: a gRPC server, a TCP echo server and an HTTP server.
	grpcApp := startGRPCEcho(t)

	tcpEcho := startTCPEcho(t)
	httpApp := startApp(t, "echo", "v1")

	w.startProxy(t, proxyOpts{service: "echo", version: "v1", apps: []string{
		"9090=" + grpcApp, "7000=" + tcpEcho, "8080=" + httpApp.addr,
	}})
	grpcPort, tcpPort, httpPort := freePort(t), freePort(t), freePort(t)
	w.startProxy(t, proxyOpts{service: "client", upstreams: []string{
		"echo.default:9090=" + strconv.Itoa(grpcPort),
		"echo.default:7000=" + strconv.Itoa(tcpPort),
		"echo.default:8080=" + strconv.Itoa(httpPort),
	}})

	t.Run("grpc", func(t *testing.T) {
		conn, err := grpc.NewClient(addr(grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := testgrpc.NewTestServiceClient(conn)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		// Unary, with the trailer carried back.
		var trailer metadata.MD
		eventually(t, 10*time.Second, "unary call through the mesh", func() error {
			resp, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("ping")}}, grpc.Trailer(&trailer))
			if err != nil {
				return err
			}
			if string(resp.GetPayload().GetBody()) != "ping" || resp.GetUsername() != "echo" {
				return fmt.Errorf("answer %v", resp)
			}
			return nil
		})
		if got := trailer.Get("x-served-by"); len(got) != 1 || got[0] != "echo" {
			t.Errorf("trailer x-served-by = %v", got)
		}

		// A status from the application reaches the caller intact.
		_, err = client.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"}})
		if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
			t.Errorf("status = %v, want NotFound \"no such thing\"", err)
		}

		// Bidirectional streaming.
		stream, err := client.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			msg := []byte("message-" + strconv.Itoa(i))
			if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: msg}}); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(resp.GetPayload().GetBody(), msg) {
				t.Fatalf("stream echo %d = %q", i, resp.GetPayload().GetBody())
			}
		}
		stream.CloseSend()
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("end of stream: %v", err)
		}
		if got := stream.Trailer().Get("x-stream-end"); len(got) != 1 || got[0] != "clean" {
			t.Errorf("stream trailer = %v", got)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		payload := bytes.Repeat([]byte("weft-tcp-"), 100000) // ~900 KB
		var got []byte
		eventually(t, 10*time.Second, "tcp echo through the mesh", func() error {
			c, err := net.DialTimeout("tcp", addr(tcpPort), 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			errc := make(chan error, 1)
			go func() {
				_, err := c.Write(payload)
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				errc <- err
			}()
			got, err = io.ReadAll(c)
			if err != nil {
				return err
			}
			if err := <-errc; err != nil {
				return err
			}
			if !bytes.Equal(got, payload) {
				return fmt.Errorf("echoed %d bytes, sent %d", len(got), len(payload))
			}
			return nil
		})
	})

	t.Run("h2c", func(t *testing.T) {
		h2c := &http.Client{Timeout: 5 * time.Second, Transport: &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, address string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, address)
			},
		}}
		eventually(t, 10*time.Second, "h2c request through the mesh", func() error {
			resp, err := h2c.Get("http://" + addr(httpPort) + "/")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !bytes.Contains(body, []byte(`"service":"echo"`)) {
				return fmt.Errorf("status %d proto %s body %s", resp.StatusCode, resp.Proto, body)
			}
			return nil
		})
	})
}
