package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// dialRefused reports whether a TCP connect to addr is refused (the listener is gone).
func dialRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestConfigSwapUnderLoad swaps configs back and forth while a bounded load runs through
// caller -> mTLS -> callee; not one request may fail. Every swap changes the route's target
// app and the caller cluster's connect timeout, which replaces (and closes) its endpoints.
func TestConfigSwapUnderLoad(t *testing.T) {
	p := newPair(t)
	a, b := newHTTPApp(t, "a"), newHTTPApp(t, "b")
	inCfg := func(v string) *config.Config {
		return inboundConfig(v, p.ca.PEM,
			appPort{port: 80, proto: config.HTTP1, target: a.addr()},
			appPort{port: 81, proto: config.HTTP1, target: b.addr()})
	}
	mustApply(t, p.callee, inCfg("in-0"))
	inbound := listenerAddr(t, p.callee, "inbound")
	outCfg := func(i int) *config.Config {
		port := 80 + i%2
		cl := meshCluster("svc", port, config.HTTP1, []string{calleeID}, inbound)
		cl.ConnectTimeout = time.Second + time.Duration(i%2)*time.Millisecond
		return outboundConfig(fmt.Sprintf("out-%d", i), p.ca.PEM, routeTo("svc", "svc"), cl)
	}
	mustApply(t, p.caller, outCfg(0))
	url := "http://" + listenerAddr(t, p.caller, "outbound") + "/load"

	const workers, perWorker = 4, 150
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		seen     sync.Map
		firstErr atomic.Value
		done     = make(chan struct{})
	)
	deadline := time.Now().Add(20 * time.Second)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := httpClient(t)
			for i := 0; i < perWorker && time.Now().Before(deadline); i++ {
				res, err := get(t, c, url, nil)
				if err == nil && res.status != 200 {
					err = fmt.Errorf("status %d: %s", res.status, res.body)
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				seen.Store(res.header.Get("X-App"), true)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	swaps := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			swaps++
			mustApply(t, p.caller, outCfg(swaps))
			mustApply(t, p.callee, inCfg(fmt.Sprintf("in-%d", swaps)))
			// Let some requests through on each config.
			time.Sleep(2 * time.Millisecond)
		}
	}
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed across %d swaps; first: %v", n, workers*perWorker, swaps, firstErr.Load())
	}
	t.Logf("%d requests, %d swaps", workers*perWorker, swaps)
	if swaps < 5 {
		t.Fatalf("only %d swaps happened during the load", swaps)
	}
	for _, app := range []string{"a", "b"} {
		if _, ok := seen.Load(app); !ok {
			t.Errorf("no request reached app %s: swaps did not take effect", app)
		}
	}
	if got := p.caller.Current().Version; got != fmt.Sprintf("out-%d", swaps) {
		t.Errorf("Current().Version = %q, want the last applied", got)
	}
}

func TestRemovedListenerFinishesInFlightRequest(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	cl := &config.Cluster{Name: "app", Protocol: config.HTTP1, Endpoints: []config.Endpoint{{Address: app.addr()}}}
	withExtra := outboundConfig("with-extra", p.ca.PEM, routeTo("svc", "app"), cl)
	withExtra.Listeners["extra"] = &config.Listener{Name: "extra", Address: "127.0.0.1:0",
		FilterChains: []*config.FilterChain{{HTTP: &config.HTTPConnectionManager{Inline: routeTo("inline", "app")}}}}
	mustApply(t, p.caller, withExtra)
	extra := listenerAddr(t, p.caller, "extra")

	type reply struct {
		res result
		err error
	}
	got := make(chan reply, 1)
	go func() {
		res, err := get(t, httpClient(t), "http://"+extra+"/slow", nil)
		got <- reply{res, err}
	}()
	<-app.started

	mustApply(t, p.caller, outboundConfig("without-extra", p.ca.PEM, routeTo("svc", "app"), cl))
	if _, ok := p.caller.ListenerAddr("extra"); ok {
		t.Fatal("removed listener still reported")
	}
	waitFor(t, "the removed listener to stop accepting", 5*time.Second, func() bool { return dialRefused(extra) })
	select {
	case r := <-got:
		t.Fatalf("in-flight request ended before the app answered: %+v", r)
	default:
	}
	app.unblock()
	r := <-got
	if r.err != nil || r.res.status != 200 || !strings.HasPrefix(r.res.body, "app GET /slow") {
		t.Fatalf("in-flight request: err %v status %d body %q", r.err, r.res.status, r.res.body)
	}
	// The kept listener still serves.
	res, err := get(t, httpClient(t), "http://"+listenerAddr(t, p.caller, "outbound")+"/x", nil)
	if err != nil || res.status != 200 {
		t.Fatalf("kept listener: %v %d", err, res.status)
	}
}

func TestDrainFinishesInFlightRequest(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	url := meshHTTP(t, p, app)
	outbound := strings.TrimPrefix(url, "http://")

	type reply struct {
		resp *http.Response
		body string
		err  error
	}
	got := make(chan reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/slow", nil)
		resp, err := httpClient(t).Do(req)
		if err != nil {
			got <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- reply{resp: resp, body: string(b), err: err}
	}()
	<-app.started

	lrt := runningListener(t, p.caller, "outbound")
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- p.caller.Drain(ctx)
	}()
	waitFor(t, "the drained listener to stop accepting", 5*time.Second, func() bool {
		return lrt.ctx.Err() != nil && dialRefused(outbound)
	})
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) while a request was in flight", err)
	default:
	}
	app.unblock()
	r := <-got
	if r.err != nil || r.resp.StatusCode != 200 || !strings.HasPrefix(r.body, "app GET /slow") {
		t.Fatalf("in-flight request: %+v", r)
	}
	if !r.resp.Close {
		t.Error("the last response of a draining HTTP/1.1 connection should say Connection: close")
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if err := p.caller.Apply(p.caller.Current()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Drain: %v, want ErrClosed", err)
	}
}

func TestDrainLetsGRPCStreamFinish(t *testing.T) {
	p := newPair(t)
	client := meshGRPC(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(msg string) {
		t.Helper()
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: payload(msg)}); err != nil {
			t.Fatalf("Send %s: %v", msg, err)
		}
		resp, err := stream.Recv()
		if err != nil || string(resp.GetPayload().GetBody()) != msg {
			t.Fatalf("Recv %s: %v %q", msg, err, resp.GetPayload().GetBody())
		}
	}
	roundTrip("before")
	outbound := listenerAddr(t, p.caller, "outbound")

	drained := make(chan error, 1)
	go func() { drained <- p.caller.Drain(ctx) }()
	waitFor(t, "the drained listener to stop accepting", 5*time.Second, func() bool {
		return drainStarted(p.caller) && dialRefused(outbound)
	})
	for i := range 3 {
		roundTrip(fmt.Sprintf("during-%d", i))
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream end: %v, want io.EOF", err)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

// runningListener returns the runtime's listener called name.
func runningListener(t *testing.T, r *Runtime, name string) *listenerRT {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.listeners[name]
	if !ok {
		t.Fatalf("no listener %q", name)
	}
	return l
}

// drainStarted reports whether Drain has begun (Apply is refused from then on).
func drainStarted(r *Runtime) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func TestCertificateRotationKeepsLiveConnections(t *testing.T) {
	p := newPair(t)
	app := newHTTPApp(t, "app")
	url := meshHTTP(t, p, app)
	c := httpClient(t)
	if res, err := get(t, c, url+"/one", nil); err != nil || res.status != 200 {
		t.Fatalf("before rotation: %v %d", err, res.status)
	}
	inbound := listenerAddr(t, p.callee, "inbound")
	peerSerial := func() string {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", inbound, &tls.Config{
			ServerName: sni(80), InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
			Certificates: []tls.Certificate{*p.ca.Leaf(t, callerID)}, NextProtos: []string{"http/1.1"},
		})
		if err != nil {
			t.Fatalf("direct handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	old := p.calleeCerts.Certificate().Leaf.SerialNumber.String()
	if got := peerSerial(); got != old {
		t.Fatalf("callee served serial %s, want %s", got, old)
	}
	upstream := map[string]string{"cluster": "outbound|80||svc.default"}
	before := metricValue(t, p.callerReg, MetricUpstreamActive, upstream)

	next := p.ca.Leaf(t, calleeID)
	p.calleeCerts.Set(next)
	p.callerCerts.Set(p.ca.Leaf(t, callerID))

	for i := range 10 {
		if res, err := get(t, c, fmt.Sprintf("%s/after/%d", url, i), nil); err != nil || res.status != 200 {
			t.Fatalf("after rotation, request %d: %v %d", i, err, res.status)
		}
	}
	if got := metricValue(t, p.callerReg, MetricUpstreamActive, upstream); got != before {
		t.Errorf("upstream connections went from %v to %v: live connections were disturbed", before, got)
	}
	if got, want := peerSerial(), next.Leaf.SerialNumber.String(); got != want {
		t.Fatalf("new handshake got serial %s, want the rotated %s", got, want)
	}
}

// TestDrainWaitsForTCPThenCloses: a TCP connection keeps working while the runtime drains, and
// is closed when the drain's deadline passes.
func TestDrainWaitsForTCPThenCloses(t *testing.T) {
	p := newPair(t)
	echo := startEchoApp(t)
	mustApply(t, p.caller, &config.Config{
		Version: "tcp",
		Listeners: map[string]*config.Listener{"tcp": {Name: "tcp", Address: "127.0.0.1:0",
			FilterChains: []*config.FilterChain{{TCP: &config.TCPProxy{Cluster: "echo"}}}}},
		Clusters: map[string]*config.Cluster{"echo": {Name: "echo", Endpoints: []config.Endpoint{{Address: echo}}}},
	})
	addr := listenerAddr(t, p.caller, "tcp")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	roundTrip := func(msg string) error {
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != msg {
			return fmt.Errorf("echo %q, want %q", buf, msg)
		}
		return nil
	}
	if err := roundTrip("before"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- p.caller.Drain(ctx) }()
	waitFor(t, "the listener to stop accepting", 5*time.Second, func() bool { return dialRefused(addr) })
	if err := roundTrip("during the drain"); err != nil {
		t.Fatalf("TCP connection broken by the drain before its deadline: %v", err)
	}
	if err := <-drained; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain: %v, want the deadline (the TCP connection never ended)", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("TCP connection still open after the drain deadline")
	}
}

// TestCloseLeavesNoGoroutines runs HTTP/1.1, gRPC and TCP traffic through a pair of proxies,
// closes everything, and checks that the goroutines wind down.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		// A sub-test's cleanups run when it ends: everything started inside is closed there.
		t.Run("traffic", func(t *testing.T) {
			p := newPair(t)
			app := newHTTPApp(t, "app")
			url := meshHTTP(t, p, app)
			if res, err := get(t, httpClient(t), url+"/", nil); err != nil || res.status != 200 {
				t.Fatalf("http: %v %d", err, res.status)
			}
			p2 := newPair(t)
			client := meshGRPC(t, p2)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: payload("x")}); err != nil {
				t.Fatalf("grpc: %v", err)
			}
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines before, %d after closing everything:\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
