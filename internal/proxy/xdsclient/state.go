package xdsclient

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/weftmesh/weft/internal/wire"
)

// entry is one accepted resource.
type entry struct {
	version string
	value   any // see decodeResource
}

// typeState is what the client holds for one resource type. It survives reconnections: the
// config in force is never cleared by losing the control plane.
type typeState struct {
	typeURL string
	// wildcard types (Listener, Cluster) receive every resource the server has for the node;
	// the others receive the names in subscribed.
	wildcard bool
	// received: the server sent at least one response for this type (a wildcard type is known
	// in full only after that).
	received bool
	// resources accepted, by name.
	resources map[string]entry
	// subscribed names (non-wildcard types).
	subscribed map[string]struct{}
	// absent names: the server said they do not exist (removed_resources), or they did not
	// arrive within the initial fetch timeout. A config treats them as empty.
	absent map[string]struct{}
	// pending names: subscribed, not heard of yet; the value is when to give up waiting.
	pending map[string]time.Time
}

func newTypeState(typeURL string, wildcard bool) *typeState {
	return &typeState{
		typeURL:    typeURL,
		wildcard:   wildcard,
		resources:  map[string]entry{},
		subscribed: map[string]struct{}{},
		absent:     map[string]struct{}{},
		pending:    map[string]time.Time{},
	}
}

// savedState is a copy of the accepted part of a typeState, to undo a response whose config
// the data plane refused.
type savedState struct {
	received  bool
	resources map[string]entry
	absent    map[string]struct{}
	pending   map[string]time.Time
}

func (ts *typeState) save() savedState {
	return savedState{
		received:  ts.received,
		resources: maps.Clone(ts.resources),
		absent:    maps.Clone(ts.absent),
		pending:   maps.Clone(ts.pending),
	}
}

func (ts *typeState) restore(s savedState) {
	ts.received, ts.resources, ts.absent, ts.pending = s.received, s.resources, s.absent, s.pending
}

// versions returns the versions held, for initial_resource_versions on a new stream.
func (ts *typeState) versions() map[string]string {
	if len(ts.resources) == 0 {
		return nil
	}
	out := make(map[string]string, len(ts.resources))
	for name, e := range ts.resources {
		out[name] = e.version
	}
	return out
}

// subscriptionChange is a change of the names subscribed for one type.
type subscriptionChange struct {
	typeURL     string
	subscribe   []string
	unsubscribe []string
}

// resourceTypes is the order in which requests go out on a new stream, Envoy's order for ADS:
// clusters, their endpoints, listeners, their routes, then secrets.
var resourceTypes = []struct {
	url      string
	wildcard bool
}{
	{TypeCluster, true},
	{TypeEndpoint, false},
	{TypeListener, true},
	{TypeRoute, false},
	{TypeSecret, false},
}

// state is every type's typeState, owned by the goroutine running the client.
type state struct {
	types map[string]*typeState
}

func newState() *state {
	s := &state{types: map[string]*typeState{}}
	for _, rt := range resourceTypes {
		s.types[rt.url] = newTypeState(rt.url, rt.wildcard)
	}
	return s
}

// wanted computes the names each non-wildcard type must be subscribed to from what the
// listeners and clusters held refer to. The ROOTCA secret is always wanted; the "default"
// secret never (the proxy makes its own certificate).
func (s *state) wanted() map[string]map[string]struct{} {
	routes := map[string]struct{}{}
	for _, e := range s.types[TypeListener].resources {
		for _, r := range e.value.(*listenerResource).routeNames {
			routes[r] = struct{}{}
		}
	}
	eds := map[string]struct{}{}
	for _, e := range s.types[TypeCluster].resources {
		if n := e.value.(*clusterResource).edsName; n != "" {
			eds[n] = struct{}{}
		}
	}
	return map[string]map[string]struct{}{
		TypeRoute:    routes,
		TypeEndpoint: eds,
		TypeSecret:   {wire.SecretRootCA: {}},
	}
}

// reconcile brings the subscriptions in line with wanted(): new names are subscribed (and
// wait at most fetchTimeout from now), names no longer referenced are unsubscribed and
// forgotten. It returns the changes, in resourceTypes order.
func (s *state) reconcile(now time.Time, fetchTimeout time.Duration) []subscriptionChange {
	want := s.wanted()
	var out []subscriptionChange
	for _, rt := range resourceTypes {
		if rt.wildcard {
			continue
		}
		ts := s.types[rt.url]
		ch := subscriptionChange{typeURL: rt.url}
		for name := range want[rt.url] {
			if _, ok := ts.subscribed[name]; !ok {
				ts.subscribed[name] = struct{}{}
				ch.subscribe = append(ch.subscribe, name)
				if _, held := ts.resources[name]; !held {
					ts.pending[name] = now.Add(fetchTimeout)
				}
			}
		}
		for name := range ts.subscribed {
			if _, ok := want[rt.url][name]; !ok {
				delete(ts.subscribed, name)
				delete(ts.resources, name)
				delete(ts.absent, name)
				delete(ts.pending, name)
				ch.unsubscribe = append(ch.unsubscribe, name)
			}
		}
		if len(ch.subscribe)+len(ch.unsubscribe) > 0 {
			slices.Sort(ch.subscribe)
			slices.Sort(ch.unsubscribe)
			out = append(out, ch)
		}
	}
	return out
}

// restartFetchTimers gives every name still pending a full fetchTimeout from now (a new
// stream asks for them again).
func (s *state) restartFetchTimers(now time.Time, fetchTimeout time.Duration) {
	for _, ts := range s.types {
		for name := range ts.pending {
			ts.pending[name] = now.Add(fetchTimeout)
		}
	}
}

// nextDeadline returns the earliest pending deadline, or false if nothing is pending.
func (s *state) nextDeadline() (time.Time, bool) {
	var first time.Time
	found := false
	for _, ts := range s.types {
		for _, d := range ts.pending {
			if !found || d.Before(first) {
				first, found = d, true
			}
		}
	}
	return first, found
}

// expire marks as absent the pending names whose deadline has passed, and returns them as
// "type/name".
func (s *state) expire(now time.Time) []string {
	var out []string
	for _, rt := range resourceTypes {
		ts := s.types[rt.url]
		for name, d := range ts.pending {
			if !now.Before(d) {
				delete(ts.pending, name)
				ts.absent[name] = struct{}{}
				out = append(out, kinds[rt.url]+" "+name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// ingest applies the resources and removals of a response of this type. Valid resources are
// accepted one by one (as Envoy does); each refused resource keeps its previous version, if
// any, and yields one message naming it and the field.
func (ts *typeState) ingest(resources []*discoveryv3.Resource, removed []string) (refusals []string) {
	for _, r := range resources {
		name := r.GetName()
		if name == "" {
			refusals = append(refusals, fmt.Sprintf("%s without a name", kinds[ts.typeURL]))
			continue
		}
		if !ts.wildcard {
			if _, ok := ts.subscribed[name]; !ok {
				continue // not asked for (or no longer): ignored
			}
		}
		if r.GetResource() == nil {
			continue // a TTL heartbeat: the resource held is still current
		}
		v, err := decodeResource(ts.typeURL, name, r.GetResource())
		if err != nil {
			refusals = append(refusals, err.Error())
			continue
		}
		version := r.GetVersion()
		if version == "" {
			// Without a version from the server, the content identifies the resource.
			sum := sha256.Sum256(r.GetResource().GetValue())
			version = "sha256:" + hex.EncodeToString(sum[:16])
		}
		ts.resources[name] = entry{version: version, value: v}
		delete(ts.absent, name)
		delete(ts.pending, name)
	}
	for _, name := range removed {
		delete(ts.resources, name)
		delete(ts.pending, name)
		if _, ok := ts.subscribed[name]; ok {
			ts.absent[name] = struct{}{}
		}
	}
	ts.received = true
	return refusals
}
