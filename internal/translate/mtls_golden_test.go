package translate

import (
	"testing"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/internal/mesh"
	"github.com/weftmesh/weft/internal/wire"
)

// mtlsPolicy builds an MTLSPolicy of namespace ns.
func mtlsPolicy(ns, name, kind, target, mode string, ports ...v1alpha1.MTLSPortMode) *v1alpha1.MTLSPolicy {
	return &v1alpha1.MTLSPolicy{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindMTLSPolicy},
		Metadata: v1alpha1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.MTLSPolicySpec{
			TargetRef: v1alpha1.MTLSTargetRef{Kind: kind, Name: target},
			Mode:      mode,
			Ports:     ports,
		},
	}
}

// mtlsGoldenCases are the mutual TLS modes, compared with testdata/<name>.json like
// goldenCases.
func mtlsGoldenCases() []goldenCase {
	return []goldenCase{
		{
			// A namespace in PERMISSIVE: web's only port takes mutual TLS and plaintext on the
			// shared inbound port; the inspector gives up after 100ms.
			name: "mtls-permissive",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				addService(s, "default", "web", nil, port("http", 8080, "http"))
				s.MTLSPolicies = []*v1alpha1.MTLSPolicy{mtlsPolicy("default", "ns", "Namespace", "default", "PERMISSIVE")}
				addWorkloads(s, workload("web-1.default", "default", "web", "10.0.0.1"))
				return s
			},
			proxy: sidecarMeta("web-1.default", "default", "web", 15006,
				[]wire.AppPort{{Port: 8080, Target: "127.0.0.1:8081"}}),
		},
		{
			// A Service policy (STRICT) with port overrides: 2525 (tcp, server speaks first)
			// PERMISSIVE on a dedicated port with the short bound; 8080 DISABLE on a dedicated
			// port, plaintext only; 9090 STRICT. The shared listener has the mutual-TLS chains
			// of 2525 and 9090 only: the plaintext clients go to the dedicated ports.
			name: "mtls-port-override",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				smtp := port("smtp", 2525, "tcp")
				smtp.ServerFirst = true
				addService(s, "default", "web", nil, port("http", 8080, "http"), port("grpc", 9090, "grpc"), smtp)
				s.MTLSPolicies = []*v1alpha1.MTLSPolicy{
					mtlsPolicy("default", "mesh", "Mesh", "default", "PERMISSIVE"),
					mtlsPolicy("default", "web", "Service", "web", "STRICT",
						v1alpha1.MTLSPortMode{Port: 2525, Mode: "PERMISSIVE"},
						v1alpha1.MTLSPortMode{Port: 8080, Mode: "DISABLE"}),
				}
				return s
			},
			proxy: sidecarMeta("web-1.default", "default", "web", 15006, []wire.AppPort{
				{Port: 8080, Target: "127.0.0.1:8081", InboundPort: 15008},
				{Port: 9090, Target: "127.0.0.1:9091"},
				{Port: 2525, Target: "127.0.0.1:2526", InboundPort: 15025},
			}),
		},
		{
			// A caller of a DISABLE service (plaintext cluster, HTTP/2 options kept) and of a
			// STRICT one; endpoints are the dedicated inbound port of the service port when
			// the workload has one.
			name: "mtls-disable-caller",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				addService(s, "legacy", "billing", nil, port("grpc", 7000, "grpc"))
				addService(s, "default", "api", nil, port("http", 80, "http"))
				s.MTLSPolicies = []*v1alpha1.MTLSPolicy{mtlsPolicy("legacy", "billing", "Service", "billing", "DISABLE")}
				b1 := workload("billing-1.legacy", "legacy", "billing", "10.0.5.1")
				b1.DedicatedInbound = []wire.DedicatedInbound{{Port: 7000, InboundPort: 15070}}
				b2 := workload("billing-2.legacy", "legacy", "billing", "10.0.5.2")
				a1 := workload("api-1.default", "default", "api", "10.0.0.21")
				a1.DedicatedInbound = []wire.DedicatedInbound{{Port: 80, InboundPort: 15080}}
				addWorkloads(s, b1, b2, a1)
				return s
			},
			proxy: sidecarMeta("web-1.default", "default", "web", 0, nil,
				wire.Upstream{Service: "billing", Namespace: "legacy", Port: 7000, LocalPort: 17000},
				wire.Upstream{Service: "api", Namespace: "default", Port: 80, LocalPort: 18080},
			),
		},
		{
			// The Mesh allows TLS 1.2: both sides accept it, with ECDHE AEAD suites only.
			name: "mtls-tls12",
			snap: func() *mesh.Snapshot {
				s := newSnapshot()
				s.Mesh.Spec.TLS = &v1alpha1.MeshTLSSpec{MinVersion: "1.2"}
				addService(s, "default", "web", nil, port("http", 8080, "http"))
				addService(s, "default", "api", nil, port("http", 80, "http"))
				addWorkloads(s, workload("api-1.default", "default", "api", "10.0.0.21"))
				return s
			},
			proxy: sidecarMeta("web-1.default", "default", "web", 15006,
				[]wire.AppPort{{Port: 8080, Target: "127.0.0.1:8081"}},
				wire.Upstream{Service: "api", Namespace: "default", Port: 80, LocalPort: 18080}),
		},
	}
}

func TestTranslateMTLSGolden(t *testing.T) {
	for _, tc := range mtlsGoldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Translate(tc.snap(), tc.proxy)
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			checkGolden(t, tc.name, res)
		})
	}
}
