package controlplane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/wire"
)

// workloadCert obtains a certificate for id from weftd, the way a proxy does.
func workloadCert(t *testing.T, ctx context.Context, c *apiclient.Client, id, workloadID string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := c.SignCertificate(ctx, &apiclient.CertificateRequest{
		CSR:        string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		WorkloadID: workloadID,
	})
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	block, _ := pem.Decode([]byte(signed.CertificateChain))
	if block == nil {
		t.Fatal("no certificate in the answer")
	}
	return tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}
}

// TestRunServesXDSOverMutualTLS runs weftd with the real xDS server: a sidecar that holds a
// certificate from weftd opens an ADS stream and receives the cluster of a Service applied
// over the API and the trust bundle.
func TestRunServesXDSOverMutualTLS(t *testing.T) {
	w := startWeftdWith(t, t.TempDir(), newXDS)
	c, cfg := client(t, w)
	ctx := testContext(t)

	if _, err := c.Apply(ctx, &apiclient.ApplyRequest{Resources: []json.RawMessage{json.RawMessage(serviceJSON)}}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	frontend := &wire.Workload{ID: "frontend-1.shop", Service: "frontend", Namespace: "shop", ServiceAccount: "frontend",
		Address: "127.0.0.1", InboundPort: 15006}
	if _, err := c.RegisterWorkload(ctx, frontend); err != nil {
		t.Fatalf("register: %v", err)
	}
	cert := workloadCert(t, ctx, c, "spiffe://weft.local/ns/shop/sa/frontend", frontend.ID)

	pool, err := cfg.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(cfg.XDS, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert},
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	streamCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(streamCtx)
	if err != nil {
		t.Fatalf("opening the ADS stream: %v", err)
	}
	md, err := wire.EncodeNodeMetadata(wire.ProxyMeta{
		Mode: wire.ModeSidecar, WorkloadID: frontend.ID, Service: "frontend", Namespace: "shop", ServiceAccount: "frontend",
		Address: "127.0.0.1", InboundPort: 15006,
		Upstreams: []wire.Upstream{{Service: "backend", Namespace: "shop", Port: 8080, LocalPort: 18080}},
	})
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: frontend.ID, Metadata: md}
	for _, req := range []*discoveryv3.DiscoveryRequest{
		{Node: node, TypeUrl: resource.ClusterType},
		{Node: node, TypeUrl: resource.SecretType, ResourceNames: []string{wire.SecretRootCA}},
	} {
		if err := stream.Send(req); err != nil {
			t.Fatalf("sending %s: %v", req.TypeUrl, err)
		}
	}

	wantCluster := wire.OutboundClusterName("backend", "shop", 8080)
	gotCluster, gotBundle := false, false
	for !gotCluster || !gotBundle {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("receiving (cluster %v, bundle %v): %v", gotCluster, gotBundle, err)
		}
		for _, a := range resp.Resources {
			switch resp.TypeUrl {
			case resource.ClusterType:
				var cl clusterv3.Cluster
				if err := a.UnmarshalTo(&cl); err != nil {
					t.Fatal(err)
				}
				gotCluster = gotCluster || cl.Name == wantCluster
			case resource.SecretType:
				var sec tlsv3.Secret
				if err := a.UnmarshalTo(&sec); err != nil {
					t.Fatal(err)
				}
				ca := sec.GetValidationContext().GetTrustedCa().GetInlineBytes()
				gotBundle = gotBundle || (sec.Name == wire.SecretRootCA && string(ca) == cfg.CA)
			}
		}
	}
}
