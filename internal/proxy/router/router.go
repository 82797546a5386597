// Package router compiles a config.RouteTable into a form matched per request without
// allocating: virtual host by authority, then the first route whose path and header
// conditions hold, then a weighted pick of the route's backends.
//
// The package knows nothing of connections or protocols; a request is seen through the small
// Request interface, implemented over the HTTP/1.1 fast path's request view and over
// net/http's *http.Request by the callers.
package router

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/weftmesh/weft/internal/proxy/config"
)

// Request is the part of a request the router looks at. Slices returned are read, never kept.
type Request interface {
	// Authority is the Host header (HTTP/1.1) or :authority (HTTP/2), possibly with a port.
	Authority() []byte
	// Path is the request path; a query, if present, is ignored by the router.
	Path() []byte
	// Header returns the first value of the header named name (lower case) and whether the
	// header is present.
	Header(name string) ([]byte, bool)
}

// Table is a compiled route table whose routes lead to backends of type B (e.g. a cluster).
// A Table is immutable and safe for concurrent use.
type Table[B any] struct {
	exact    map[string]*VirtualHost[B] // lower-case domain, with or without port
	suffixes []wildcard[B]              // "*.example.com": longest suffix first
	prefixes []wildcard[B]              // "api.*": longest prefix first
	fallback *VirtualHost[B]            // "*"
	backends []B                        // every backend any route leads to, in order of first use
}

type wildcard[B any] struct {
	part  string
	vhost *VirtualHost[B]
}

// VirtualHost is a compiled virtual host.
type VirtualHost[B any] struct {
	Name   string
	routes []*Route[B]
}

// Route is a compiled route.
type Route[B any] struct {
	// Name of the route in the config (may be empty).
	Name string
	// DirectStatus, when non-zero, is answered locally.
	DirectStatus int
	// Timeout for the whole request; zero means none.
	Timeout time.Duration

	prefix  string
	path    string
	hasPath bool
	re      *regexp.Regexp
	headers []headerMatcher
	// cumulative weights: backend i is picked when the draw is below cum[i].
	cum      []uint32
	backends []B
	total    uint32
}

type headerMatcher struct {
	name    string
	exact   string
	re      *regexp.Regexp
	present bool
	invert  bool
}

// Compile builds a Table from rt. resolve maps a cluster name to its backend; an error from it
// (an unknown cluster) fails the compilation, naming the route.
func Compile[B any](rt *config.RouteTable, resolve func(cluster string) (B, error)) (*Table[B], error) {
	if rt == nil {
		return nil, fmt.Errorf("compiling routes: nil route table")
	}
	t := &Table[B]{exact: make(map[string]*VirtualHost[B])}
	seen := make(map[string]bool)
	for vi, vh := range rt.VirtualHosts {
		if vh == nil {
			return nil, fmt.Errorf("route table %q: virtual_hosts[%d] is nil", rt.Name, vi)
		}
		cv := &VirtualHost[B]{Name: vh.Name}
		for ri, r := range vh.Routes {
			cr, kept, err := compileRoute(r, resolve)
			if err != nil {
				return nil, fmt.Errorf("route table %q: virtual host %q: routes[%d]: %w", rt.Name, vh.Name, ri, err)
			}
			for i, b := range cr.backends {
				if !seen[kept[i]] {
					seen[kept[i]] = true
					t.backends = append(t.backends, b)
				}
			}
			cv.routes = append(cv.routes, cr)
		}
		if len(vh.Domains) == 0 {
			return nil, fmt.Errorf("route table %q: virtual host %q has no domains", rt.Name, vh.Name)
		}
		for _, d := range vh.Domains {
			if err := t.addDomain(strings.ToLower(d), cv); err != nil {
				return nil, fmt.Errorf("route table %q: virtual host %q: %w", rt.Name, vh.Name, err)
			}
		}
	}
	sortWildcards(t.suffixes)
	sortWildcards(t.prefixes)
	return t, nil
}

func (t *Table[B]) addDomain(d string, vh *VirtualHost[B]) error {
	switch {
	case d == "":
		return fmt.Errorf("empty domain")
	case d == "*":
		if t.fallback == nil {
			t.fallback = vh
		}
	case strings.HasPrefix(d, "*"):
		t.suffixes = append(t.suffixes, wildcard[B]{part: d[1:], vhost: vh})
	case strings.HasSuffix(d, "*"):
		t.prefixes = append(t.prefixes, wildcard[B]{part: d[:len(d)-1], vhost: vh})
	case strings.Contains(d, "*"):
		return fmt.Errorf("domain %q: a wildcard must be at the start or the end", d)
	default:
		if _, dup := t.exact[d]; dup {
			return fmt.Errorf("domain %q appears in two virtual hosts", d)
		}
		t.exact[d] = vh
	}
	return nil
}

// sortWildcards orders by length, longest first (stable insertion sort: lists are short).
func sortWildcards[B any](w []wildcard[B]) {
	for i := 1; i < len(w); i++ {
		for j := i; j > 0 && len(w[j].part) > len(w[j-1].part); j-- {
			w[j], w[j-1] = w[j-1], w[j]
		}
	}
}

// compileRoute compiles r. It also returns the cluster name of each backend kept in the
// compiled route (zero weights are dropped), for Compile to list the table's backends once.
func compileRoute[B any](r *config.Route, resolve func(string) (B, error)) (*Route[B], []string, error) {
	if r == nil {
		return nil, nil, fmt.Errorf("nil route")
	}
	cr := &Route[B]{Name: r.Name, DirectStatus: r.DirectStatus, Timeout: r.Timeout}
	var kept []string
	m := r.Match
	n := 0
	if m.Prefix != "" {
		cr.prefix = m.Prefix
		n++
	}
	if m.Path != "" {
		cr.path, cr.hasPath = m.Path, true
		n++
	}
	if m.PathRegex != nil {
		re, err := anchored(m.PathRegex)
		if err != nil {
			return nil, nil, fmt.Errorf("route %q: path regex: %w", r.Name, err)
		}
		cr.re = re
		n++
	}
	if n > 1 {
		return nil, nil, fmt.Errorf("route %q: more than one path condition", r.Name)
	}
	if n == 0 {
		cr.prefix = "/"
	}
	for _, h := range m.Headers {
		hm := headerMatcher{name: strings.ToLower(h.Name), exact: h.Exact, present: h.Present, invert: h.Invert}
		if hm.name == "" {
			return nil, nil, fmt.Errorf("route %q: header match without a name", r.Name)
		}
		if h.Regex != nil {
			re, err := anchored(h.Regex)
			if err != nil {
				return nil, nil, fmt.Errorf("route %q: header %q regex: %w", r.Name, h.Name, err)
			}
			hm.re = re
		}
		cr.headers = append(cr.headers, hm)
	}
	if cr.DirectStatus != 0 {
		if cr.DirectStatus < 100 || cr.DirectStatus > 599 {
			return nil, nil, fmt.Errorf("route %q: direct status %d out of range", r.Name, cr.DirectStatus)
		}
		return cr, kept, nil
	}
	if len(r.Clusters) == 0 {
		return nil, nil, fmt.Errorf("route %q: no cluster and no direct status", r.Name)
	}
	for _, wc := range r.Clusters {
		b, err := resolve(wc.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("route %q: %w", r.Name, err)
		}
		if wc.Weight == 0 && len(r.Clusters) > 1 {
			continue
		}
		w := wc.Weight
		if len(r.Clusters) == 1 {
			w = 1 // a single backend takes everything whatever its weight
		}
		if cr.total+w < cr.total {
			return nil, nil, fmt.Errorf("route %q: weights overflow", r.Name)
		}
		cr.total += w
		cr.cum = append(cr.cum, cr.total)
		cr.backends = append(cr.backends, b)
		kept = append(kept, wc.Name)
	}
	if cr.total == 0 {
		return nil, nil, fmt.Errorf("route %q: cluster weights sum to zero", r.Name)
	}
	return cr, kept, nil
}

// anchored makes a regular expression match the whole input, as Envoy's safe_regex does.
func anchored(re *regexp.Regexp) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + re.String() + `)$`)
}

// Backends returns every backend some route of the table leads to.
func (t *Table[B]) Backends() []B { return t.backends }

// Match returns the first route of the request's virtual host whose conditions hold, or nil.
func (t *Table[B]) Match(req Request) *Route[B] {
	vh := t.VirtualHost(req.Authority())
	if vh == nil {
		return nil
	}
	path := req.Path()
	for i, b := range path {
		if b == '?' || b == '#' {
			path = path[:i]
			break
		}
	}
	for _, r := range vh.routes {
		if r.matches(path, req) {
			return r
		}
	}
	return nil
}

// maxStackHost bounds the authority lower-cased on the stack; longer ones are lower-cased on
// the heap (they are rare and odd).
const maxStackHost = 256

// VirtualHost selects the virtual host for an authority: exact domain (with port, then without),
// then the longest suffix wildcard, then the longest prefix wildcard, then "*".
func (t *Table[B]) VirtualHost(authority []byte) *VirtualHost[B] {
	var buf [maxStackHost]byte
	var host []byte
	if len(authority) <= len(buf) {
		host = buf[:len(authority)]
		for i, c := range authority {
			host[i] = lower(c)
		}
	} else {
		host = []byte(strings.ToLower(string(authority)))
	}
	if len(t.exact) > 0 {
		if vh, ok := t.exact[string(host)]; ok {
			return vh
		}
	}
	host = stripPort(host)
	if len(t.exact) > 0 {
		if vh, ok := t.exact[string(host)]; ok {
			return vh
		}
	}
	for _, w := range t.suffixes {
		if len(host) > len(w.part) && string(host[len(host)-len(w.part):]) == w.part {
			return w.vhost
		}
	}
	for _, w := range t.prefixes {
		if len(host) > len(w.part) && string(host[:len(w.part)]) == w.part {
			return w.vhost
		}
	}
	return t.fallback
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// stripPort removes ":port" from host, minding IPv6 literals ("[::1]:80"; a bare "::1" has
// no port).
func stripPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		for i, c := range h {
			if c == ']' {
				return h[:i+1]
			}
		}
		return h
	}
	colon := -1
	for i, c := range h {
		if c == ':' {
			if colon >= 0 {
				return h // more than one colon: an IPv6 literal without brackets
			}
			colon = i
		}
	}
	if colon >= 0 {
		return h[:colon]
	}
	return h
}

func (r *Route[B]) matches(path []byte, req Request) bool {
	switch {
	case r.hasPath:
		if string(path) != r.path {
			return false
		}
	case r.re != nil:
		if !r.re.Match(path) {
			return false
		}
	default:
		if len(path) < len(r.prefix) || string(path[:len(r.prefix)]) != r.prefix {
			return false
		}
	}
	for i := range r.headers {
		if !r.headers[i].matches(req) {
			return false
		}
	}
	return true
}

func (h *headerMatcher) matches(req Request) bool {
	v, ok := req.Header(h.name)
	var m bool
	switch {
	case h.exact != "":
		m = ok && string(v) == h.exact
	case h.re != nil:
		m = ok && h.re.Match(v)
	default:
		m = ok == h.present
	}
	return m != h.invert
}

// Pick chooses one of the route's backends by weight. It must not be called on a route with a
// DirectStatus. It is lock-free and does not allocate.
func (r *Route[B]) Pick() B {
	if len(r.backends) == 1 {
		return r.backends[0]
	}
	n := rand.Uint32N(r.total)
	for i, c := range r.cum {
		if n < c {
			return r.backends[i]
		}
	}
	return r.backends[len(r.backends)-1]
}
