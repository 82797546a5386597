package mtls

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
)

// TrustID identifies a trust bundle (PEM). TLS sessions established under one bundle are
// resumed only while that bundle is in force: a resumption verifies the peer certificate of
// the original handshake, which a root rotation may have made untrusted, while a full
// handshake would present the peer's current certificate.
func TrustID(bundle []byte) string {
	sum := sha256.Sum256(bundle)
	return "weft-trust:" + hex.EncodeToString(sum[:12])
}

// SessionUnder reports whether a server-side session's extra data names the trust ID.
func SessionUnder(extra [][]byte, trustID string) bool {
	for _, e := range extra {
		if bytes.Equal(e, []byte(trustID)) {
			return true
		}
	}
	return false
}

// ScopedSessionCache wraps a client session cache so that sessions are stored and found under
// the trust ID in force: when the bundle changes, cached sessions are no longer offered and the
// next handshake is a full one. A nil trustID leaves the cache as it is.
func ScopedSessionCache(inner tls.ClientSessionCache, trustID func() string) tls.ClientSessionCache {
	if trustID == nil {
		return inner
	}
	return &scopedCache{inner: inner, trustID: trustID}
}

type scopedCache struct {
	inner   tls.ClientSessionCache
	trustID func() string
}

func (c *scopedCache) Get(key string) (*tls.ClientSessionState, bool) {
	return c.inner.Get(c.trustID() + "|" + key)
}

func (c *scopedCache) Put(key string, cs *tls.ClientSessionState) {
	c.inner.Put(c.trustID()+"|"+key, cs)
}
