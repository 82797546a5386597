package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

const recommendationServices = `
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: recommendation, namespace: default}
spec:
  ports: [{name: http, port: 8080, appProtocol: http}]
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: recommendation-v1, namespace: default}
spec:
  ports: [{name: http, port: 8080, appProtocol: http}]
  selector: {app: recommendation, version: v1}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Service
metadata: {name: recommendation-v2, namespace: default}
spec:
  ports: [{name: http, port: 8080, appProtocol: http}]
  selector: {app: recommendation, version: v2}
`

// splitRoute is an HTTPRoute attached to the recommendation Service that sends weightV1 and
// weightV2 of its traffic to each version.
func splitRoute(weightV1, weightV2 int) string {
	return fmt.Sprintf(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: recommendation, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: recommendation, port: 8080}]
  rules:
  - backendRefs:
    - {name: recommendation-v1, port: 8080, weight: %d}
    - {name: recommendation-v2, port: 8080, weight: %d}
`, weightV1, weightV2)
}

// recMesh is weftd, recommendation v1 and v2 (each an app with its sidecar) and a "client"
// sidecar whose outbound listener the test calls as if it were the client application.
type recMesh struct {
	w          *weftd
	v1, v2     *app
	p1, p2     *proxy
	client     *proxy
	clientURL  string
	clientPort int
}

func startRecMesh(t *testing.T) *recMesh {
	t.Helper()
	m := &recMesh{w: newWeftd(t)}
	m.w.mustApply(t, recommendationServices)
	m.v1 = startApp(t, "recommendation", "v1")
	m.v2 = startApp(t, "recommendation", "v2")
	m.p1 = m.w.startProxy(t, proxyOpts{service: "recommendation", version: "v1", apps: []string{"8080=" + m.v1.addr}})
	m.p2 = m.w.startProxy(t, proxyOpts{service: "recommendation", version: "v2", apps: []string{"8080=" + m.v2.addr}})
	m.clientPort = freePort(t)
	m.client = m.w.startProxy(t, proxyOpts{service: "client", upstreams: []string{"recommendation.default:8080=" + strconv.Itoa(m.clientPort)}})
	m.clientURL = "http://" + addr(m.clientPort)
	m.waitVersions(t, m.clientURL+"/", "v1", "v2")
	return m
}

// waitVersions waits until requests to url have been answered by each of the versions.
func (m *recMesh) waitVersions(t *testing.T, url string, versions ...string) {
	t.Helper()
	seen := map[string]bool{}
	eventually(t, 20*time.Second, "answers from "+fmt.Sprint(versions), func() error {
		a, _, err := get(url)
		if err != nil {
			return err
		}
		seen[a.Version] = true
		for _, v := range versions {
			if !seen[v] {
				return fmt.Errorf("seen %v", seen)
			}
		}
		return nil
	})
}

// waitOnly waits until n consecutive answers come from version only.
func waitOnly(t *testing.T, url, version string, n int) {
	t.Helper()
	eventually(t, 20*time.Second, "only "+version, func() error {
		for i := 0; i < n; i++ {
			a, _, err := get(url)
			if err != nil {
				return err
			}
			if a.Version != version {
				return fmt.Errorf("answer from %s", a.Version)
			}
		}
		return nil
	})
}

func TestRoutingMatchesAndWeightedSplit(t *testing.T) {
	m := startRecMesh(t)
	m.w.mustApply(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: recommendation, namespace: default}
spec:
  parentRefs: [{kind: Service, name: recommendation, port: 8080}]
  rules:
  - matches: [{headers: [{name: x-canary, value: "true"}]}]
    backendRefs: [{name: recommendation-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /stable}}]
    backendRefs: [{name: recommendation-v1, port: 8080}]
  - backendRefs:
    - {name: recommendation-v1, port: 8080, weight: 90}
    - {name: recommendation-v2, port: 8080, weight: 10}
`)
	// The header rule is the last to differ from the default: once it holds, the route is in.
	eventually(t, 10*time.Second, "header match routes to v2", func() error {
		for i := 0; i < 20; i++ {
			a, _, err := get(m.clientURL+"/", "x-canary", "true")
			if err != nil {
				return err
			}
			if a.Version != "v2" {
				return fmt.Errorf("x-canary request answered by %s", a.Version)
			}
		}
		return nil
	})
	for i := 0; i < 20; i++ {
		a, _, err := get(m.clientURL + "/stable/items")
		if err != nil {
			t.Fatal(err)
		}
		if a.Version != "v1" {
			t.Fatalf("/stable request answered by %s, want v1", a.Version)
		}
	}

	const n = 600
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		a, _, err := get(m.clientURL + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		counts[a.Version]++
	}
	// 10% of 600 is 60 with a standard deviation of about 7.3: 30..95 is more than 4 sigma.
	if v2 := counts["v2"]; v2 < 30 || v2 > 95 || counts["v1"]+v2 != n {
		t.Fatalf("90/10 split gave %v over %d requests", counts, n)
	}
	t.Logf("90/10 split: %v", counts)
}

func TestRouteChangeUnderTrafficLosesNothing(t *testing.T) {
	m := startRecMesh(t)
	tr := startTraffic(m.clientURL+"/", 4, 200000, 60*time.Second)
	tr.waitFor(t, 50)

	m.w.mustApply(t, splitRoute(100, 0))
	waitOnly(t, m.clientURL+"/", "v1", 20)
	tr.waitFor(t, 100)

	m.w.mustApply(t, splitRoute(0, 100))
	waitOnly(t, m.clientURL+"/", "v2", 20)
	tr.waitFor(t, 100)

	m.w.mustApply(t, splitRoute(50, 50))
	m.waitVersions(t, m.clientURL+"/", "v1", "v2")
	ok, _ := tr.finish(t)
	t.Logf("%d requests across three route changes, versions %v", ok, tr.versions)
}

func TestWeftdRestartUnderTrafficLosesNothing(t *testing.T) {
	m := startRecMesh(t)
	m.w.mustApply(t, splitRoute(100, 0))
	waitOnly(t, m.clientURL+"/", "v1", 10)

	tr := startTraffic(m.clientURL+"/", 4, 200000, 60*time.Second)
	tr.waitFor(t, 50)

	m.w.signal(9)
	if err := m.w.wait(10 * time.Second); err == nil {
		t.Fatal("weftd exited cleanly after SIGKILL")
	}
	// The proxies keep serving with what they have.
	tr.waitFor(t, 200)

	restarted := startWeftd(t, m.w.dataDir, m.w.apiAddr, m.w.xdsAddr)
	// Everything that was applied survived the restart.
	if out, err := restarted.weft(t, "", "get", "httproute", "recommendation", "-o", "json"); err != nil {
		t.Fatalf("route lost across restart: %v\n%s", err, out)
	}
	// The proxies reconnect: a change made after the restart reaches them.
	restarted.mustApply(t, splitRoute(0, 100))
	waitOnly(t, m.clientURL+"/", "v2", 20)
	tr.waitFor(t, 100)
	ok, _ := tr.finish(t)
	t.Logf("%d requests across a weftd kill and restart", ok)
}

func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	m := startRecMesh(t)
	// /slow goes to v1 only; everything else goes to the recommendation Service itself, served
	// by both v1 and v2.
	m.w.mustApply(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: recommendation, namespace: default}
spec:
  parentRefs: [{kind: Service, name: recommendation, port: 8080}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /slow}}]
    backendRefs: [{name: recommendation-v1, port: 8080}]
`)
	waitOnly(t, m.clientURL+"/slow", "v1", 5)
	tr := startTraffic(m.clientURL+"/", 3, 200000, 60*time.Second)
	tr.waitFor(t, 50)

	// Slow requests in flight on v1 when its proxy is told to stop.
	const slow = 8
	results := make(chan error, slow)
	for i := 0; i < slow; i++ {
		go func() {
			a, _, err := get(m.clientURL + "/slow?delay=1500ms")
			if err == nil && a.Version != "v1" {
				err = fmt.Errorf("answered by %s", a.Version)
			}
			results <- err
		}()
	}
	eventually(t, 5*time.Second, "slow requests in flight", func() error {
		n, err := inFlight(m.v1.addr)
		if err != nil {
			return err
		}
		if n < slow {
			return fmt.Errorf("%d in flight", n)
		}
		return nil
	})

	m.p1.signal(15)
	for i := 0; i < slow; i++ {
		select {
		case err := <-results:
			if err != nil {
				t.Errorf("in-flight request failed during drain: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("in-flight request did not finish")
		}
	}
	if err := m.p1.wait(15 * time.Second); err != nil {
		t.Fatalf("proxy did not exit cleanly after SIGTERM: %v\n%s", err, m.p1.tail(20))
	}
	// The traffic moved to v2 without a failed request.
	waitOnly(t, m.clientURL+"/", "v2", 10)
	tr.waitFor(t, 50)
	tr.finish(t)

	// The stopped proxy's workload left the registry.
	out, err := m.w.weft(t, "", "get", "workloads", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, m.p1.id) {
		t.Errorf("drained workload %s still registered:\n%s", m.p1.id, out)
	}
}

// appHealth is what a demo-app's /healthz answers.
type appHealth struct {
	InFlight int `json:"inFlight"`
	Requests int `json:"requests"`
}

func health(appAddr string) (appHealth, error) {
	var h appHealth
	resp, err := httpClient.Get("http://" + appAddr + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("decoding /healthz: %w", err)
	}
	return h, nil
}

// inFlight asks a demo-app how many requests it is serving.
func inFlight(appAddr string) (int, error) {
	h, err := health(appAddr)
	return h.InFlight, err
}
