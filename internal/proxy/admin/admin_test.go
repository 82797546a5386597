package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/proxy/config"
	"github.com/weftmesh/weft/internal/proxy/stats"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

type fakeIdentity struct {
	id     string
	expiry time.Time
	serial string
}

func (f fakeIdentity) SPIFFEID() string     { return f.id }
func (f fakeIdentity) Expiry() time.Time    { return f.expiry }
func (f fakeIdentity) SerialNumber() string { return f.serial }

func validConfig() Config {
	return Config{
		Addr:  "127.0.0.1:0",
		Stats: stats.NewRegistry(),
		Ready: func() error { return nil },
		Drain: func() {},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" valid
	}{
		{"ipv4 loopback", func(c *Config) {}, ""},
		{"ipv4 loopback range", func(c *Config) { c.Addr = "127.0.0.2:15000" }, ""},
		{"ipv6 loopback", func(c *Config) { c.Addr = "[::1]:15000" }, ""},
		{"localhost", func(c *Config) { c.Addr = "localhost:15000" }, ""},
		{"all interfaces", func(c *Config) { c.Addr = "0.0.0.0:15000" }, "must be on loopback"},
		{"empty host", func(c *Config) { c.Addr = ":15000" }, "must be on loopback"},
		{"ipv6 any", func(c *Config) { c.Addr = "[::]:15000" }, "must be on loopback"},
		{"private IP", func(c *Config) { c.Addr = "10.1.2.3:15000" }, "must be on loopback"},
		{"host name", func(c *Config) { c.Addr = "admin.example.com:15000" }, "must be on loopback"},
		{"no port", func(c *Config) { c.Addr = "127.0.0.1" }, "not host:port"},
		{"bad port", func(c *Config) { c.Addr = "127.0.0.1:99999" }, "bad port"},
		{"no stats registry", func(c *Config) { c.Stats = nil }, "stats registry is required"},
		{"no readiness", func(c *Config) { c.Ready = nil }, "readiness function is required"},
		{"no drain", func(c *Config) { c.Drain = nil }, "drain function is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.edit(&cfg)
			_, err := New(cfg, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func get(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String()
}

func TestReady(t *testing.T) {
	tests := []struct {
		name       string
		ready      error
		wantStatus int
		wantBody   string
	}{
		{"ready", nil, http.StatusOK, "ready\n"},
		{"no config", errors.New("waiting for the first configuration from weftd"), http.StatusServiceUnavailable,
			"not ready: waiting for the first configuration from weftd\n"},
		{"draining", errors.New("draining"), http.StatusServiceUnavailable, "not ready: draining\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.Ready = func() error { return tt.ready }
			s, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			code, body := get(t, s.Handler(), http.MethodGet, "/ready")
			if code != tt.wantStatus || body != tt.wantBody {
				t.Errorf("GET /ready = %d %q, want %d %q", code, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestStatsPrometheus(t *testing.T) {
	reg := stats.NewRegistry()
	reg.Counter("weft_test_total", "test").Add(3)
	cfg := validConfig()
	cfg.Stats = reg
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, body := get(t, s.Handler(), http.MethodGet, "/stats/prometheus")
	if code != http.StatusOK || !strings.Contains(body, "# TYPE weft_test_total counter\nweft_test_total 3\n") {
		t.Errorf("GET /stats/prometheus = %d, body:\n%s\nwant 200 with weft_test_total 3", code, body)
	}
}

func TestDrain(t *testing.T) {
	var calls atomic.Int32
	cfg := validConfig()
	cfg.Drain = func() { calls.Add(1) }
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, s.Handler(), http.MethodGet, "/drain"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /drain = %d, want 405", code)
	}
	if calls.Load() != 0 {
		t.Fatal("GET /drain started draining")
	}
	if code, body := get(t, s.Handler(), http.MethodPost, "/drain"); code != http.StatusAccepted || body != "draining\n" {
		t.Errorf("POST /drain = %d %q, want 202 \"draining\\n\"", code, body)
	}
	if calls.Load() != 1 {
		t.Errorf("Drain called %d times, want 1", calls.Load())
	}
}

// sampleConfig has one of each thing a dump must render sensibly.
func sampleConfig(t *testing.T) *config.Config {
	t.Helper()
	bundle, err := os.ReadFile(filepath.Join("testdata", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &config.Config{
		Version:     "v1-abc",
		TrustBundle: bundle,
		Listeners: map[string]*config.Listener{
			"outbound|api.default:8080": {Name: "outbound|api.default:8080", Address: "127.0.0.1:15101", FilterChains: []*config.FilterChain{{
				HTTP: &config.HTTPConnectionManager{StatPrefix: "outbound_api", RouteName: "api.default:8080"},
			}}},
			"inbound": {Name: "inbound", Address: "127.0.0.1:15006", FilterChains: []*config.FilterChain{{
				Name: "p8080", ServerNames: []string{"p8080.inbound.weft"},
				TLS: &config.DownstreamTLS{RequireClientCert: true, ALPN: []string{"h2", "http/1.1"}, AllowedSANPrefixes: []string{"spiffe://weft.local/"}},
				TCP: &config.TCPProxy{StatPrefix: "inbound_8080", Cluster: "inbound|8080"},
			}}},
		},
		Clusters: map[string]*config.Cluster{
			"outbound|8080||api.default": {Name: "outbound|8080||api.default", Protocol: config.HTTP2, ConnectTimeout: 5 * time.Second,
				TLS:       &config.UpstreamTLS{SNI: "p8080.inbound.weft", ALPN: []string{"h2"}, AllowedSANs: []string{"spiffe://weft.local/ns/default/sa/api"}},
				Endpoints: []config.Endpoint{{Address: "127.0.0.1:15006"}}},
		},
		Routes: map[string]*config.RouteTable{
			"api.default:8080": {Name: "api.default:8080", VirtualHosts: []*config.VirtualHost{{Name: "*", Domains: []string{"*"}, Routes: []*config.Route{
				{Name: "v2", Match: config.RouteMatch{PathRegex: regexp.MustCompile(`^/api/v[0-9]+/.*$`), Headers: []config.HeaderMatch{
					{Name: "x-canary", Regex: regexp.MustCompile(`^(yes|true)$`)}, {Name: "x-debug", Present: true, Invert: true}}},
					Clusters: []config.WeightedCluster{{Name: "outbound|8080||api.default", Weight: 1}}, TotalWeight: 1, Timeout: 1500 * time.Millisecond},
				{Name: "default", Match: config.RouteMatch{Prefix: "/"}, DirectStatus: 500},
			}}}},
		},
	}
}

func TestConfigDump(t *testing.T) {
	cfg := validConfig()
	cfg.Version = "v0.1.0-test"
	cfg.Identity = fakeIdentity{id: "spiffe://weft.local/ns/default/sa/web", serial: "1f2e", expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg.XDSStatus = func() any {
		return struct {
			Connected bool   `json:"connected"`
			LastNACK  string `json:"lastNACK"`
		}{true, "Listener inbound: filter_chains[0]: bad"}
	}
	cfg.Config = func() *config.Config { return sampleConfig(t) }
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, body := get(t, s.Handler(), http.MethodGet, "/config_dump")
	if code != http.StatusOK {
		t.Fatalf("GET /config_dump = %d: %s", code, body)
	}

	var got struct {
		Version  string `json:"version"`
		Identity struct {
			SPIFFEID     string    `json:"spiffeID"`
			CertExpiry   time.Time `json:"certExpiry"`
			SerialNumber string    `json:"serialNumber"`
		} `json:"identity"`
		XDS struct {
			Connected bool   `json:"connected"`
			LastNACK  string `json:"lastNACK"`
		} `json:"xds"`
		Config struct {
			TrustBundle []CertificateSummary
			Clusters    map[string]struct {
				Protocol       string
				ConnectTimeout string
			}
			Routes map[string]struct {
				VirtualHosts []struct {
					Routes []struct {
						Name    string
						Timeout string
						Match   struct {
							PathRegex string
							Headers   []struct{ Name, Regex string }
						}
					}
				}
			}
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decoding /config_dump: %v\n%s", err, body)
	}
	if got.Version != "v0.1.0-test" || got.Identity.SPIFFEID != "spiffe://weft.local/ns/default/sa/web" ||
		got.Identity.SerialNumber != "1f2e" || !got.Identity.CertExpiry.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("version/identity = %q %+v", got.Version, got.Identity)
	}
	if !got.XDS.Connected || got.XDS.LastNACK == "" {
		t.Errorf("xds = %+v, want the client status", got.XDS)
	}
	route := got.Config.Routes["api.default:8080"].VirtualHosts[0].Routes[0]
	if route.Match.PathRegex != `^/api/v[0-9]+/.*$` || route.Match.Headers[0].Regex != `^(yes|true)$` {
		t.Errorf("regexps dumped as %q, %q; want their source", route.Match.PathRegex, route.Match.Headers[0].Regex)
	}
	if route.Timeout != "1.5s" {
		t.Errorf("route timeout dumped as %q, want 1.5s", route.Timeout)
	}
	if c := got.Config.Clusters["outbound|8080||api.default"]; c.Protocol != "http2" || c.ConnectTimeout != "5s" {
		t.Errorf("cluster = %+v, want protocol http2 and connect timeout 5s", c)
	}
	if len(got.Config.TrustBundle) != 1 || got.Config.TrustBundle[0].Subject != "CN=weft test root,O=weft test" ||
		got.Config.TrustBundle[0].SerialNumber != "1234abcd" {
		t.Errorf("trust bundle dumped as %+v, want a summary of the test root", got.Config.TrustBundle)
	}
	if strings.Contains(body, "PRIVATE") {
		t.Error("the dump contains key material")
	}

	golden := filepath.Join("testdata", "config_dump.golden.json")
	if *update {
		if err := os.WriteFile(golden, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), body); diff != "" {
		t.Errorf("/config_dump differs from %s (-want +got):\n%s", golden, diff)
	}
}

func TestConfigDumpBeforeAnything(t *testing.T) {
	cfg := validConfig()
	cfg.Identity = fakeIdentity{id: "spiffe://weft.local/ns/default/sa/web"}
	cfg.Config = func() *config.Config { return nil }
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, body := get(t, s.Handler(), http.MethodGet, "/config_dump")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil {
		t.Fatalf("GET /config_dump = %d %v: %s", code, err, body)
	}
	want := map[string]any{
		"version":  "",
		"identity": map[string]any{"spiffeID": "spiffe://weft.local/ns/default/sa/web", "certExpiry": nil},
		"xds":      nil,
		"config":   nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dump before any config (-want +got):\n%s", diff)
	}
}

func TestPlainBytes(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string // JSON
	}{
		{"text", []byte("hello"), `"hello"`},
		{"binary", []byte{0xff, 0x00}, `"/wA="`},
		{"pem but not a certificate", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), `"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(plainOf(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("plainOf(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestListenAndServe(t *testing.T) {
	s, err := New(validConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	reqCtx, reqCancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer reqCancel()
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodGet, "http://"+addr.String()+"/ready", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, []byte("ready\n")) {
		t.Errorf("GET /ready = %d %q", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := s.Listen(); err == nil {
		t.Error("a second Listen succeeded")
	}
}
