package xds

import (
	"maps"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weftmesh/weft/internal/translate"
	"github.com/weftmesh/weft/internal/wire"
)

// sentTrust records the trust bundle carried by the sds version just handed to the cache, so
// that the proxy's ACK of that version says which bundle it applied. Called with s.mu held.
func (n *node) sentTrust(res *translate.Resources, bundle []byte, versions map[string]string) {
	sds := shortType(resource.SecretType)
	n.usesBundle = false
	for _, sec := range res.Secrets {
		if sec.GetName() == wire.SecretRootCA {
			n.usesBundle = true
		}
	}
	if !n.usesBundle {
		return
	}
	if n.bundles == nil {
		n.bundles = map[string][]byte{}
	}
	n.bundles[versions[sds]] = bundle
}

// ackedTrust records the bundle of an ACKed sds version and forgets the versions older than
// it (only the one in flight, if any, is kept). Called with s.mu held.
func (n *node) ackedTrust(short, version string) {
	if short != shortType(resource.SecretType) {
		return
	}
	if b, ok := n.bundles[version]; ok {
		n.ackedBundle = b
	}
	inFlight := n.sent[short]
	maps.DeleteFunc(n.bundles, func(v string, _ []byte) bool { return v != inFlight && v != version })
}
