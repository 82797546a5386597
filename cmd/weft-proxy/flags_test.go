package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/proxy/agent"
	"github.com/weftmesh/weft/internal/wire"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*options) // edits the expected options, starting from the defaults below
	}{
		{
			name: "sidecar",
			args: []string{"--service", "web", "--namespace", "shop", "--version", "v2", "--label", "tier=front", "--label", "team=a",
				"--address", "10.0.0.5", "--inbound-port", "16006", "--app", "8080=127.0.0.1:9080", "--app", "9090=localhost:9091",
				"--upstream", "api.shop:8080=15101", "--admin-addr", "127.0.0.1:16000", "--drain-timeout", "30s", "--drain-grace", "5s",
				"--id", "web-1.shop", "--bootstrap", "/etc/weft/proxy-bootstrap.json", "--log-level", "debug"},
			want: func(o *options) {
				c := &o.agent
				c.ID, c.Service, c.Namespace, c.Version = "web-1.shop", "web", "shop", "v2"
				c.Labels = map[string]string{"tier": "front", "team": "a"}
				c.Address, c.InboundPort, c.AdminAddr = "10.0.0.5", 16006, "127.0.0.1:16000"
				c.Apps = []wire.AppPort{{Port: 8080, Target: "127.0.0.1:9080"}, {Port: 9090, Target: "localhost:9091"}}
				c.Upstreams = []wire.Upstream{{Service: "api", Namespace: "shop", Port: 8080, LocalPort: 15101}}
				c.DrainTimeout, c.DrainGrace = 30*time.Second, 5*time.Second
				o.bootstrap = "/etc/weft/proxy-bootstrap.json"
				o.logLevel = -4
			},
		},
		{
			name: "gateway",
			args: []string{"--mode", "gateway", "--gateway", "ingress", "--id", "gw-1", "--trust-domain", "corp.example"},
			want: func(o *options) {
				o.agent.Mode, o.agent.Gateway, o.agent.ID, o.agent.TrustDomain = wire.ModeGateway, "ingress", "gw-1", "corp.example"
			},
		},
		{
			name: "bootstrap from the environment",
			args: []string{"--service", "web", "--id", "w"},
			env:  map[string]string{"WEFT_PROXY_BOOTSTRAP": "/tmp/boot.json"},
			want: func(o *options) { o.agent.Service, o.agent.ID, o.bootstrap = "web", "w", "/tmp/boot.json" },
		},
		{
			name: "version command",
			args: []string{"version"},
			want: func(o *options) { o.printVersion = true; o.agent = agent.Config{} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, io.Discard, env(tt.env))
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			want := &options{
				bootstrap: got.bootstrap, // checked separately when the test sets it
				agent: agent.Config{
					Mode: wire.ModeSidecar, Namespace: "default", Address: "127.0.0.1", InboundPort: 15006,
					TrustDomain: "weft.local", AdminAddr: "127.0.0.1:15000", DrainTimeout: 10 * time.Second, DrainGrace: 2 * time.Second,
				},
			}
			tt.want(want)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("parseFlags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFlagsDefaultID(t *testing.T) {
	tests := []struct {
		args []string
		want *regexp.Regexp
	}{
		{[]string{"--service", "web"}, regexp.MustCompile(`^web-[0-9a-f]{6}\.default$`)},
		{[]string{"--service", "web", "--namespace", "shop"}, regexp.MustCompile(`^web-[0-9a-f]{6}\.shop$`)},
		{[]string{"--mode", "gateway", "--gateway", "ingress"}, regexp.MustCompile(`^ingress-[0-9a-f]{6}\.default$`)},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, io.Discard, env(nil))
		if err != nil {
			t.Fatalf("parseFlags(%q): %v", tt.args, err)
		}
		if !tt.want.MatchString(o.agent.ID) {
			t.Errorf("parseFlags(%q) ID = %q, want %s", tt.args, o.agent.ID, tt.want)
		}
	}
	a, _ := parseFlags([]string{"--service", "web"}, io.Discard, env(nil))
	b, _ := parseFlags([]string{"--service", "web"}, io.Discard, env(nil))
	if a.agent.ID == b.agent.ID {
		t.Errorf("two default IDs are both %q", a.agent.ID)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no service", []string{}, "--service is required"},
		{"gateway without name", []string{"--mode", "gateway"}, "--gateway"},
		{"bad mode", []string{"--mode", "edge", "--service", "web"}, `mode "edge"`},
		{"app without =", []string{"--service", "web", "--app", "8080"}, `--app "8080": want PORT=HOST:PORT`},
		{"app bad port", []string{"--service", "web", "--app", "80x=127.0.0.1:1"}, "not a port number"},
		{"app bad target", []string{"--service", "web", "--app", "8080=127.0.0.1"}, "must be HOST:PORT"},
		{"upstream without namespace", []string{"--service", "web", "--upstream", "api:8080=15101"}, "SERVICE.NAMESPACE"},
		{"upstream without port", []string{"--service", "web", "--upstream", "api.default=15101"}, "lacks :PORT"},
		{"upstream bad local port", []string{"--service", "web", "--upstream", "api.default:8080=70000"}, "local port"},
		{"upstream local port twice", []string{"--service", "web", "--upstream", "a.default:80=15101", "--upstream", "b.default:80=15101"}, "both use local port 15101"},
		{"label without =", []string{"--service", "web", "--label", "tier"}, "want KEY=VALUE"},
		{"label twice", []string{"--service", "web", "--label", "a=1", "--label", "a=2"}, "given twice"},
		{"admin not on loopback", []string{"--service", "web", "--admin-addr", "0.0.0.0:15000"}, "must be on loopback"},
		{"inbound port", []string{"--service", "web", "--inbound-port", "0"}, "--inbound-port 0"},
		{"log level", []string{"--service", "web", "--log-level", "loud"}, "--log-level"},
		{"stray argument", []string{"--service", "web", "run"}, `unexpected argument "run"`},
		{"unknown flag", []string{"--service", "web", "--port", "1"}, "flag provided but not defined: -port"},
		{"upstream in gateway mode", []string{"--mode", "gateway", "--gateway", "gw", "--upstream", "a.b:1=2"}, "for sidecar mode"},
		{"unspecified address", []string{"--service", "web", "--address", "0.0.0.0"}, "cannot be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseFlags(tt.args, &stderr, env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"--help"}, &stderr, env(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(--help) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"--mode", "-upstream", "-drain-grace", "weft-proxy version"} {
		if !strings.Contains(stderr.String(), strings.TrimPrefix(want, "-")) {
			t.Errorf("usage does not mention %s:\n%s", want, stderr.String())
		}
	}
}

func TestRunVersionAndUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 || strings.TrimSpace(stdout.String()) == "" {
		t.Errorf("run(version) = %d, stdout %q; want 0 and a version", code, stdout.String())
	}
	stderr.Reset()
	if code := run([]string{"--app", "x"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--app") {
		t.Errorf("run(--app x) = %d, stderr %q; want 2 and the --app error", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"--service", "web", "--bootstrap", "/nonexistent/proxy-bootstrap.json"}, io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "/nonexistent/proxy-bootstrap.json") {
		t.Errorf("run with a missing bootstrap = %d, stderr %q; want 1 naming the file", code, stderr.String())
	}
}
