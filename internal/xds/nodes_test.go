package xds

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weftmesh/weft/internal/translate"
	"github.com/weftmesh/weft/internal/wire"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in   string
		want wire.Upstream
		ok   bool
	}{
		{"greeter.default:50051", wire.Upstream{Service: "greeter", Namespace: "default", Port: 50051}, true},
		{"greeter:50051", wire.Upstream{}, false},
		{"greeter.default", wire.Upstream{}, false},
		{"greeter.default:0", wire.Upstream{}, false},
		{"greeter.default:70000", wire.Upstream{}, false},
		{"greeter.default.svc:80", wire.Upstream{}, false},
		{".default:80", wire.Upstream{}, false},
		{"xdstp://authority/envoy.config.listener.v3.Listener/x", wire.Upstream{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseTarget(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseTarget(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestListenerSubscriptions(t *testing.T) {
	type step struct {
		delta                  bool
		names                  []string // state of the world
		subscribe, unsubscribe []string // delta
		want                   string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"sotw names", []step{
			{names: []string{"b.ns:1", "a.ns:1"}, want: "a.ns:1\nb.ns:1"},
			{names: []string{"a.ns:1"}, want: "a.ns:1"},
		}},
		{"sotw wildcard", []step{{names: nil, want: "*"}, {names: []string{"*", "a.ns:1"}, want: "*"}}},
		{"delta", []step{
			{delta: true, subscribe: []string{"a.ns:1"}, want: "a.ns:1"},
			{delta: true, subscribe: []string{"b.ns:1"}, want: "a.ns:1\nb.ns:1"},
			{delta: true, unsubscribe: []string{"a.ns:1"}, want: "b.ns:1"},
		}},
		{"delta legacy wildcard then explicit unsubscribe", []step{
			{delta: true, want: "*"},
			{delta: true, subscribe: []string{"a.ns:1"}, want: "*"},
			{delta: true, unsubscribe: []string{"*"}, want: "a.ns:1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &node{streams: map[streamKey]*stream{}}
			st := &stream{node: n, listeners: map[string]bool{}}
			n.streams[streamKey{id: 1}] = st
			for i, s := range tt.steps {
				st.trackListeners(s.delta, request{names: s.names, subscribe: s.subscribe, unsubscribe: s.unsubscribe})
				if got := subscriptionKey(n); got != s.want {
					t.Errorf("step %d: subscriptions %q, want %q", i, got, s.want)
				}
			}
		})
	}
}

func TestSnapshotVersions(t *testing.T) {
	proxy := translate.Proxy{ID: "a", Meta: sidecarMeta("web", apiUpstream)}
	build := func(api []string) map[string]string {
		t.Helper()
		res, err := translate.Translate(testSnapshot(api, []string{"10.0.1.1"}), proxy)
		if err != nil {
			t.Fatal(err)
		}
		b, err := buildSnapshot(res)
		if err != nil {
			t.Fatal(err)
		}
		for typ, v := range b.versions {
			if v == "" {
				t.Errorf("type %s has no version", typ)
			}
		}
		return b.versions
	}
	first := build([]string{"10.0.0.1"})
	if diff := cmp.Diff(first, build([]string{"10.0.0.1"})); diff != "" {
		t.Errorf("versions of the same resources differ (-first +second):\n%s", diff)
	}
	changed := build([]string{"10.0.0.1", "10.0.0.2"})
	for _, typ := range []string{"lds", "rds", "cds", "sds"} {
		if changed[typ] != first[typ] {
			t.Errorf("%s version changed though only endpoints did", typ)
		}
	}
	if changed["eds"] == first["eds"] {
		t.Error("eds version did not change with the endpoints")
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		in, want Config
		valid    bool
	}{
		{Config{}, Config{Debounce: DefaultDebounce, MaxDelay: DefaultMaxDelay}, true},
		{Config{Debounce: 2 * time.Second}, Config{Debounce: 2 * time.Second, MaxDelay: 2 * time.Second}, true},
		{Config{Debounce: -1}, Config{Debounce: DefaultDebounce, MaxDelay: DefaultMaxDelay}, false},
	}
	for _, tt := range tests {
		if got := tt.in.withDefaults(); got != tt.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tt.in, got, tt.want)
		}
		if err := tt.in.Validate(); (err == nil) != tt.valid {
			t.Errorf("%+v.Validate() = %v, want valid %v", tt.in, err, tt.valid)
		}
	}
}
