package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

const authzPolicies = `
apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: payments-allow, namespace: default}
spec:
  targetRef: {kind: Service, name: payments}
  action: ALLOW
  rules:
  - from: [{serviceAccounts: [client]}]
---
apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  targetRef: {kind: Service, name: payments}
  action: DENY
  rules:
  - to: [{paths: ["/admin/*"]}]
---
apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: audit-dry-run, namespace: default}
spec:
  targetRef: {kind: Namespace}
  action: DENY
  dryRun: true
  rules:
  - to: [{paths: ["/audit/*"]}]
`

// authzMesh is payments (an HTTP app that echoes the request-target, a gRPC app and a TCP
// echo) behind its sidecar, and two callers' sidecars: service account client, which the
// policies allow, and other, which they do not.
type authzMesh struct {
	w                     *weftd
	payments              *proxy
	clientHTTP, otherHTTP string
	clientGRPC, otherGRPC string
	clientTCP, otherTCP   string
}

func startAuthzMesh(t *testing.T) *authzMesh {
	t.Helper()
	m := &authzMesh{w: newWeftd(t)}
	m.w.mustApply(t, `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: payments, namespace: default}
spec:
  ports:
  - {name: http, port: 8080, appProtocol: http}
  - {name: grpc, port: 9090, appProtocol: grpc}
  - {name: db, port: 7000, appProtocol: tcp}
`)
	m.payments = m.w.startProxy(t, proxyOpts{service: "payments", apps: []string{
		"8080=" + startPathEcho(t), "9090=" + startGRPCEcho(t), "7000=" + startTCPEcho(t),
	}})
	caller := func(sa string) (httpAddr, grpcAddr, tcpAddr string) {
		h, g, c := freePort(t), freePort(t), freePort(t)
		m.w.startProxy(t, proxyOpts{service: "shop", version: sa, serviceAccount: sa, upstreams: []string{
			"payments.default:8080=" + strconv.Itoa(h),
			"payments.default:9090=" + strconv.Itoa(g),
			"payments.default:7000=" + strconv.Itoa(c),
		}})
		return addr(h), addr(g), addr(c)
	}
	m.clientHTTP, m.clientGRPC, m.clientTCP = caller("client")
	m.otherHTTP, m.otherGRPC, m.otherTCP = caller("other")

	m.w.mustApply(t, authzPolicies)
	eventually(t, 20*time.Second, "the policies in force", func() error {
		if code, body, err := rawHTTP(m.otherHTTP, "GET", "/"); err != nil || code != 403 {
			return fmt.Errorf("other: %d %q %v", code, body, err)
		}
		if code, body, err := rawHTTP(m.clientHTTP, "GET", "/"); err != nil || code != 200 {
			return fmt.Errorf("client: %d %q %v", code, body, err)
		}
		return nil
	})
	return m
}

func TestAuthorizationPolicies(t *testing.T) {
	m := startAuthzMesh(t)

	t.Run("get", func(t *testing.T) {
		out, err := m.w.weft(t, "", "get", "authorizationpolicies")
		if err != nil {
			t.Fatalf("weft get: %v\n%s", err, out)
		}
		for _, name := range []string{"payments-allow", "deny-admin", "audit-dry-run"} {
			if !strings.Contains(out, name) {
				t.Errorf("weft get authorizationpolicies does not list %s:\n%s", name, out)
			}
		}
	})

	t.Run("allow", func(t *testing.T) {
		if code, body, err := rawHTTP(m.clientHTTP, "GET", "/api/items?page=2"); err != nil || code != 200 || body != "GET /api/items?page=2" {
			t.Errorf("client: %d %q %v, want 200 and the request as sent", code, body, err)
		}
		if code, body, err := rawHTTP(m.otherHTTP, "GET", "/api/items"); err != nil || code != 403 || body != "access denied by authorization policy" {
			t.Errorf("other: %d %q %v, want 403", code, body, err)
		}
	})

	t.Run("deny beats allow, and the known bypasses", func(t *testing.T) {
		tests := []struct {
			target string
			code   int
			body   string // what the app saw, for requests that reach it
		}{
			{"/admin/x", 403, ""},
			{"//admin/x", 403, ""},
			{"/./admin/x", 403, ""},
			{"/public/../admin/x", 403, ""},
			{"/%61dmin/x", 403, ""},
			{"/%2e%2e/admin/x", 403, ""},
			{"/admin/x?y=1", 403, ""},
			{"/admin%2fx", 400, ""},
			// Paths are matched case-sensitively: /ADMIN/ is not /admin/.
			{"/ADMIN/x", 200, "GET /ADMIN/x"},
			// ";x" belongs to the segment "admin;x", which is not under /admin/.
			{"/admin;x", 200, "GET /admin;x"},
			// The app receives the normalised path.
			{"//public/./a/../%7euser?q=1", 200, "GET /public/~user?q=1"},
		}
		for _, tt := range tests {
			code, body, err := rawHTTP(m.clientHTTP, "GET", tt.target)
			if err != nil || code != tt.code || (tt.body != "" && body != tt.body) {
				t.Errorf("GET %s: %d %q %v, want %d %q", tt.target, code, body, err, tt.code, tt.body)
			}
		}
	})

	t.Run("grpc", func(t *testing.T) {
		call := func(address string) error {
			conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("ping")}})
			return err
		}
		if err := call(m.clientGRPC); err != nil {
			t.Errorf("client: %v", err)
		}
		err := call(m.otherGRPC)
		if st, _ := status.FromError(err); st.Code() != codes.PermissionDenied || st.Message() != "access denied by authorization policy" {
			t.Errorf("other: %v, want PermissionDenied", err)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		exchange := func(address string) ([]byte, error) {
			c, err := net.DialTimeout("tcp", address, 2*time.Second)
			if err != nil {
				return nil, err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte("ping")); err != nil {
				return nil, err
			}
			buf := make([]byte, 4)
			n, err := io.ReadFull(c, buf)
			return buf[:n], err
		}
		if got, err := exchange(m.clientTCP); err != nil || string(got) != "ping" {
			t.Errorf("client: echoed %q, %v", got, err)
		}
		got, err := exchange(m.otherTCP)
		if len(got) != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("other: read %q, %v; want the connection closed without data", got, err)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		const sample = `weft_authz_audit_total{policy="default/audit-dry-run",result="would_deny"}`
		before, err := authzMetric(m.payments, sample)
		if err != nil {
			t.Fatal(err)
		}
		if code, body, err := rawHTTP(m.clientHTTP, "GET", "/audit/report"); err != nil || code != 200 || body != "GET /audit/report" {
			t.Errorf("a dry-run DENY refused: %d %q %v", code, body, err)
		}
		eventually(t, 5*time.Second, "the dry run counted", func() error {
			after, err := authzMetric(m.payments, sample)
			if err == nil && after != before+1 {
				err = fmt.Errorf("%s went from %v to %v, want +1", sample, before, after)
			}
			return err
		})
		if lines := logLines(t, m.payments.proc, "would deny request", "policy=default/audit-dry-run", "path=/audit/report"); len(lines) == 0 {
			t.Error("the dry run was not logged")
		}
	})

	t.Run("each denial logged and counted", func(t *testing.T) {
		for _, tt := range []struct {
			policy string
			min    float64
		}{{"default/payments-allow", 4}, {"default/deny-admin", 7}} {
			got, err := authzMetric(m.payments, `weft_authz_denied_total{policy="`+tt.policy+`"}`)
			if err != nil || got < tt.min {
				t.Errorf("weft_authz_denied_total{policy=%q} = %v (%v), want at least %v", tt.policy, got, err, tt.min)
			}
		}
		other := "caller=spiffe://weft.local/ns/default/sa/other"
		if lines := logLines(t, m.payments.proc, "request denied by authorization policy", "policy=default/payments-allow", `rule="none matched"`, other, "method=GET", "path=/api/items"); len(lines) == 0 {
			t.Error("no log line for other's denied request")
		}
		if lines := logLines(t, m.payments.proc, "request denied by authorization policy", "policy=default/deny-admin", "rule=0", "path=/admin/x"); len(lines) < 7 {
			t.Errorf("%d log lines for the denied /admin/x requests, want at least 7", len(lines))
		}
		if lines := logLines(t, m.payments.proc, "connection denied by authorization policy", "policy=default/payments-allow", other, "port=7000"); len(lines) == 0 {
			t.Error("no log line for other's denied connection")
		}
	})
}
