package dataplane

import (
	"net/http"

	"github.com/weftmesh/weft/internal/proxy/h2"
)

// resolve routes a request served by net/http.
func (l *listenerRT) resolve(r *http.Request) h2.Target {
	sni := ""
	if r.TLS != nil {
		sni = r.TLS.ServerName
	} else if s, ok := r.Context().Value(sniKey{}).(string); ok {
		sni = s
	}
	ch := l.view.Load().chainFor(sni)
	if ch == nil || ch.table == nil {
		return h2.Target{Status: noChainStatus(sni)}
	}
	if ch.authz != nil {
		if t, ok := l.authorizeHTTP(r, ch.authz); !ok {
			return t
		}
	}
	rt := ch.table.Match(httpRequest{r})
	switch {
	case rt == nil:
		return h2.Target{Status: http.StatusNotFound}
	case rt.DirectStatus != 0:
		return h2.Target{Status: rt.DirectStatus}
	}
	ep := rt.Pick().Pick()
	if ep == nil {
		return h2.Target{Status: http.StatusServiceUnavailable}
	}
	return h2.Target{Endpoint: ep, Timeout: rt.Timeout}
}

// httpRequest shows a net/http request to the router.
type httpRequest struct{ r *http.Request }

func (h httpRequest) Authority() []byte { return []byte(h.r.Host) }

func (h httpRequest) Path() []byte { return []byte(h.r.URL.EscapedPath()) }

func (h httpRequest) Header(name string) ([]byte, bool) {
	switch name {
	case ":authority":
		return []byte(h.r.Host), true
	case ":path":
		return []byte(h.r.URL.RequestURI()), true
	case ":method":
		return []byte(h.r.Method), true
	}
	v := h.r.Header[http.CanonicalHeaderKey(name)]
	if len(v) == 0 {
		return nil, false
	}
	return []byte(v[0]), true
}
