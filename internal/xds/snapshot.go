package xds

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/internal/translate"
)

// builtSnapshot is a proxy's resources as the cache holds them, with their version per short
// type name.
type builtSnapshot struct {
	snapshot *cachev3.Snapshot
	versions map[string]string
}

// buildSnapshot versions each resource type by a hash of its deterministically marshalled
// resources (already sorted by name), so that a type whose resources did not change keeps its
// version and is not sent again. Every served type is present, possibly empty.
func buildSnapshot(res *translate.Resources) (*builtSnapshot, error) {
	byType := map[resource.Type][]types.Resource{
		resource.ListenerType: {},
		resource.RouteType:    {},
		resource.ClusterType:  {},
		resource.EndpointType: {},
		resource.SecretType:   {},
	}
	for _, r := range res.Listeners {
		byType[resource.ListenerType] = append(byType[resource.ListenerType], r)
	}
	for _, r := range res.Routes {
		byType[resource.RouteType] = append(byType[resource.RouteType], r)
	}
	for _, r := range res.Clusters {
		byType[resource.ClusterType] = append(byType[resource.ClusterType], r)
	}
	for _, r := range res.Endpoints {
		byType[resource.EndpointType] = append(byType[resource.EndpointType], r)
	}
	for _, r := range res.Secrets {
		byType[resource.SecretType] = append(byType[resource.SecretType], r)
	}
	out := &builtSnapshot{snapshot: &cachev3.Snapshot{}, versions: map[string]string{}}
	for typeURL, items := range byType {
		version, err := hashResources(items)
		if err != nil {
			return nil, fmt.Errorf("versioning %s resources: %w", shortType(typeURL), err)
		}
		out.snapshot.Resources[cachev3.GetResponseType(typeURL)] = cachev3.NewResources(version, items)
		out.versions[shortType(typeURL)] = version
	}
	return out, nil
}

// hashResources hashes the deterministic encoding of resources, in order.
func hashResources(items []types.Resource) (string, error) {
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	for _, item := range items {
		var err error
		buf, err = opts.MarshalAppend(buf[:0], item)
		if err != nil {
			return "", fmt.Errorf("marshalling %q: %w", cachev3.GetResourceName(item), err)
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(buf)))
		h.Write(n[:])
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}
