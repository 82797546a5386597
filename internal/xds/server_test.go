package xds

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"

	"github.com/weftmesh/weft/internal/wire"
)

// protocol is a way to open an ADS stream: state of the world or delta.
type protocol struct {
	name    string
	connect func(*testing.T, *grpc.ClientConn, *corev3.Node, []subscription, nackFunc) *adsClient
}

var protocols = []protocol{{"sotw", connectSotw}, {"delta", connectDelta}}

func proxyNode(t *testing.T, id string, meta wire.ProxyMeta) *corev3.Node {
	t.Helper()
	md, err := wire.EncodeNodeMetadata(meta)
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: id, Metadata: md}
}

// sidecarSubscriptions is what a sidecar calling up asks for.
func sidecarSubscriptions(up wire.Upstream, http bool) []subscription {
	subs := []subscription{
		{typeURL: resource.ListenerType},
		{typeURL: resource.ClusterType},
		{typeURL: resource.EndpointType, names: []string{wire.OutboundClusterName(up.Service, up.Namespace, up.Port)}},
		{typeURL: resource.SecretType, names: []string{wire.SecretRootCA}},
	}
	if http {
		subs = append(subs, subscription{typeURL: resource.RouteType, names: []string{up.Key()}})
	}
	return subs
}

var (
	apiCluster = wire.OutboundClusterName("api", "default", 80)
	dbCluster  = wire.OutboundClusterName("db", "default", 5432)
)

// hasEndpoints matches an EDS response whose assignment for cluster lists exactly addrs.
func hasEndpoints(t *testing.T, cluster string, addrs ...string) func(response) bool {
	return func(r response) bool {
		if r.typeURL != resource.EndpointType {
			return false
		}
		got, ok := endpointsOf(t, r, cluster)
		return ok && slices.Equal(got, addrs)
	}
}

// status returns the ProxyStatus of a node, if connected.
func (e *env) status(id string) (ProxyStatus, bool) {
	for _, p := range e.srv.Proxies() {
		if p.NodeID == id {
			return p, true
		}
	}
	return ProxyStatus{}, false
}

// allAcked reports whether the node ACKed the current version of each of types.
func (e *env) allAcked(id string, types ...string) bool {
	p, ok := e.status(id)
	if !ok {
		return false
	}
	for _, typ := range types {
		if p.Sent[typ] == "" || p.Acked[typ] != p.Sent[typ] {
			return false
		}
	}
	return true
}

func TestPushesOnlyToConcernedProxies(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := startServer(t, Config{Debounce: 20 * time.Millisecond})
			e.srv.Update(testSnapshot([]string{"10.0.0.1"}, []string{"10.0.1.1"}))
			conn := e.dial(t)
			a := p.connect(t, conn, proxyNode(t, "a", sidecarMeta("web", apiUpstream)), sidecarSubscriptions(apiUpstream, true), nil)
			b := p.connect(t, conn, proxyNode(t, "b", sidecarMeta("worker", dbUpstream)), sidecarSubscriptions(dbUpstream, false), nil)

			a.waitFor(t, "a's api endpoints", hasEndpoints(t, apiCluster, "10.0.0.1"))
			b.waitFor(t, "b's db endpoints", hasEndpoints(t, dbCluster, "10.0.1.1"))
			eventually(t, "a's and b's ACKs", func() bool {
				return e.allAcked("a", "lds", "rds", "cds", "eds", "sds") && e.allAcked("b", "lds", "cds", "eds", "sds")
			})
			// Every response b got so far was ACKed, so it is in b's queue: skip them.
			b.drain()
			baseline := b.received.Load()
			pushes := e.metricValue(t, "weft_xds_pushes_total", nil)

			// A second api workload concerns a only.
			e.srv.Update(testSnapshot([]string{"10.0.0.1", "10.0.0.2"}, []string{"10.0.1.1"}))
			a.waitFor(t, "a's new api endpoints", hasEndpoints(t, apiCluster, "10.0.0.1", "10.0.0.2"))
			eventually(t, "a's ACK of the new endpoints", func() bool { return e.allAcked("a", "eds") })

			// A second db workload concerns b only. Responses arrive in order on b's stream:
			// had b been pushed the first change, that push would come first.
			e.srv.Update(testSnapshot([]string{"10.0.0.1", "10.0.0.2"}, []string{"10.0.1.1", "10.0.1.2"}))
			next := b.next(t)
			if !hasEndpoints(t, dbCluster, "10.0.1.1", "10.0.1.2")(next) {
				t.Fatalf("b's next response is %s version %s, want its new db endpoints", next.typeURL, next.version)
			}
			if got := b.received.Load(); got != baseline+1 {
				t.Errorf("b received %d responses after the first change, want 1 (the db change only)", got-baseline)
			}
			// One push per concerned proxy and change (counted just after the hand-off).
			eventually(t, "two pushes counted", func() bool {
				return e.metricValue(t, "weft_xds_pushes_total", nil) == pushes+2 &&
					e.metricValue(t, "weft_xds_push_latency_seconds", nil) == 2
			})
		})
	}
}

func TestNewProxyDoesNotWaitForDebounce(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			// Updates would wait an hour: a new proxy must be served at once anyway.
			e := startServer(t, Config{Debounce: time.Hour, MaxDelay: time.Hour})
			e.srv.Update(testSnapshot([]string{"10.0.0.7"}, nil))
			c := p.connect(t, e.dial(t), proxyNode(t, "early", sidecarMeta("web", apiUpstream)), sidecarSubscriptions(apiUpstream, true), nil)
			c.waitFor(t, "endpoints without waiting for the debounce", hasEndpoints(t, apiCluster, "10.0.0.7"))
		})
	}
}

func TestNACKIsCountedAndLogged(t *testing.T) {
	const msg = `cluster "outbound|80||api.default": transport_socket: unsupported socket "x"`
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := startServer(t, Config{Debounce: 20 * time.Millisecond})
			e.srv.Update(testSnapshot([]string{"10.0.0.1"}, nil))
			var nacked atomic.Bool
			nack := func(r response) string {
				if r.typeURL == resource.ClusterType && nacked.CompareAndSwap(false, true) {
					return msg
				}
				return ""
			}
			c := p.connect(t, e.dial(t), proxyNode(t, "picky", sidecarMeta("web", apiUpstream)), sidecarSubscriptions(apiUpstream, true), nack)

			eventually(t, "the NACK to be counted", func() bool {
				return e.metricValue(t, "weft_xds_nacks_total", map[string]string{"type": "cds"}) == 1
			})
			if got := e.metricValue(t, "weft_xds_nacks_total", map[string]string{"type": "lds"}); got != 0 {
				t.Errorf("lds NACKs = %v, want 0", got)
			}
			st, ok := e.status("picky")
			if !ok || st.LastNACK != msg {
				t.Errorf("LastNACK = %q, want %q", st.LastNACK, msg)
			}
			// The refused clusters are not sent straight back: the next response is the
			// next change, not the same clusters again.
			c.waitFor(t, "the NACKed clusters", func(r response) bool { return r.typeURL == resource.ClusterType })
			e.srv.Update(testSnapshot([]string{"10.0.0.1", "10.0.0.2"}, nil))
			c.waitFor(t, "the next change", func(r response) bool {
				if r.typeURL == resource.ClusterType {
					t.Fatalf("the refused clusters (version %s) were sent again", r.version)
				}
				return hasEndpoints(t, apiCluster, "10.0.0.1", "10.0.0.2")(r)
			})

			logs := e.logs.String()
			var line string
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, "NACK") {
					line = l
				}
			}
			for _, want := range []string{"level=WARN", "node=picky", "type=cds", `transport_socket: unsupported socket`} {
				if !strings.Contains(line, want) {
					t.Errorf("NACK log line %q lacks %q", line, want)
				}
			}
		})
	}
}

func TestNodeForgottenWhenLastStreamCloses(t *testing.T) {
	e := startServer(t, Config{Debounce: 20 * time.Millisecond})
	e.srv.Update(testSnapshot([]string{"10.0.0.1"}, nil))
	conn := e.dial(t)
	node := proxyNode(t, "twice", sidecarMeta("web", apiUpstream))
	first := connectSotw(t, conn, node, sidecarSubscriptions(apiUpstream, true), nil)
	second := connectDelta(t, conn, node, sidecarSubscriptions(apiUpstream, true), nil)
	first.waitFor(t, "first stream's endpoints", hasEndpoints(t, apiCluster, "10.0.0.1"))
	second.waitFor(t, "second stream's endpoints", hasEndpoints(t, apiCluster, "10.0.0.1"))
	if got := e.metricValue(t, "weft_xds_connected_proxies", nil); got != 1 {
		t.Errorf("connected proxies = %v, want 1 (one node, two streams)", got)
	}

	first.close()
	eventually(t, "the first stream to be forgotten", func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return len(e.srv.streams) == 1
	})
	if _, ok := e.status("twice"); !ok {
		t.Fatal("node forgotten while a stream is still open")
	}
	if _, err := e.srv.cache.GetSnapshot("twice"); err != nil {
		t.Fatalf("snapshot cleared while a stream is still open: %v", err)
	}

	second.close()
	eventually(t, "the node to be forgotten", func() bool { _, ok := e.status("twice"); return !ok })
	if _, err := e.srv.cache.GetSnapshot("twice"); err == nil {
		t.Error("the node's snapshot is still cached")
	}
	if got := e.metricValue(t, "weft_xds_connected_proxies", nil); got != 0 {
		t.Errorf("connected proxies = %v, want 0", got)
	}
}

func TestBadNodeIsRefused(t *testing.T) {
	e := startServer(t, Config{})
	e.srv.Update(testSnapshot(nil, nil))
	bad := proxyNode(t, "bad", wire.ProxyMeta{Mode: "router"})
	c := connectSotw(t, e.dial(t), bad, []subscription{{typeURL: resource.ListenerType}}, nil)
	select {
	case _, ok := <-c.responses:
		if ok {
			t.Fatal("a node with an unknown mode was served")
		}
	case <-time.After(testTimeout):
		t.Fatal("the stream of a node with an unknown mode stayed open")
	}
	if len(e.srv.Proxies()) != 0 {
		t.Error("the refused node is listed")
	}
}

func TestUpdatesAreDebouncedButBounded(t *testing.T) {
	const debounce, maxDelay = 150 * time.Millisecond, 400 * time.Millisecond
	e := startServer(t, Config{Debounce: debounce, MaxDelay: maxDelay})
	e.srv.Update(testSnapshot([]string{"10.0.0.1"}, nil))
	c := connectDelta(t, e.dial(t), proxyNode(t, "busy", sidecarMeta("web", apiUpstream)), sidecarSubscriptions(apiUpstream, true), nil)
	c.waitFor(t, "initial endpoints", hasEndpoints(t, apiCluster, "10.0.0.1"))
	pushes := e.metricValue(t, "weft_xds_pushes_total", nil)

	// Change the endpoints every 10ms, far more often than the debounce: only the bound
	// makes a push happen while changes keep coming. Bounded in count and time.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	updates := 0
	pushed := false
	addrs := []string{"10.0.0.1"}
	for !pushed && updates < 300 {
		select {
		case r := <-c.responses:
			if r.typeURL == resource.EndpointType {
				pushed = true
			}
		case <-tick.C:
			updates++
			addrs = append(addrs, "10.0.3."+strconv.Itoa(updates))
			e.srv.Update(testSnapshot(addrs, nil))
		}
	}
	if !pushed {
		t.Fatalf("no push after %d updates in a row (max delay %s)", updates, maxDelay)
	}
	got := e.metricValue(t, "weft_xds_pushes_total", nil) - pushes
	if got < 1 || float64(updates) < 3*got {
		t.Errorf("%d updates gave %v pushes, want them coalesced", updates, got)
	}
}
