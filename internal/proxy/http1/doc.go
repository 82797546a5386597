// Package http1 is the proxy's HTTP/1.1 fast path: a strict request/response parser and a
// forwarding loop over pooled persistent upstream connections that allocates nothing per
// request in steady state. It knows nothing of xDS or routing tables: the caller decides, per
// request, where it goes (Server.Route), and supplies the upstream connections (Pool, Dialer).
//
// One goroutine serves a downstream connection, one request at a time (pipelined requests are
// answered in order). A request head is parsed in place in the connection's read buffer; it
// goes upstream byte for byte unless it carries hop-by-hop fields or is HTTP/1.0, in which case
// it is rebuilt, into a reused buffer, as HTTP/1.1 without them. Bodies are streamed both ways,
// never held in full.
//
// # Strictness
//
// What could be read two ways by two HTTP implementations is refused with 400 and the
// connection closed, before anything reaches an upstream: Content-Length together with
// Transfer-Encoding, more than one Content-Length (even equal), a Content-Length that is not
// plain digits, a request Transfer-Encoding other than exactly "chunked", Transfer-Encoding in
// HTTP/1.0, bare LF line ends, obsolete line folding, whitespace before a colon, invalid
// characters in the method, a field name or value, or the request-target (controls, spaces,
// non-ASCII, '#'), versions other than HTTP/1.0 and HTTP/1.1, a missing or repeated Host in
// HTTP/1.1, and Connection options that would drop Host, Content-Length or Transfer-Encoding.
// Heads over MaxHeaderBytes get 431, CONNECT 501, an Expect other than 100-continue 417.
// Chunked bodies are validated as they stream: hexadecimal sizes of at most 15 digits, chunk
// extensions well-formed (and at most 16 KiB of them per body; they are dropped when
// forwarding), CRLF after each chunk's data, trailer fields checked like header fields. A body
// refused midway may have reached the upstream in part, never whole: the upstream sees the
// connection close. Responses are held to the same rules; a malformed one is answered 502.
//
// # Forwarding rules
//
//   - Hop-by-hop fields are not forwarded in either direction: Connection and the fields it
//     lists, Keep-Alive, Proxy-Connection, TE (except "TE: trailers"), Upgrade (except for a
//     tunnelled upgrade). Nothing else is added or removed.
//   - An Upgrade request (Upgrade listed in Connection, HTTP/1.1) is forwarded with
//     "Connection: upgrade"; on 101 the proxy relays the answer and then tunnels bytes both
//     ways until both sides are done (a drain closes the tunnel). Another answer is relayed as
//     usual.
//   - Interim responses (100 Continue, 103) are relayed to HTTP/1.1 clients. For
//     "Expect: 100-continue", the proxy forwards the head, waits up to a second for the
//     upstream's answer, then sends the body; a final answer in place of 100 is relayed and
//     the client connection closed (its body was never read).
//   - A response delimited by the upstream closing its connection is relayed as is, with
//     "Connection: close", and the client connection is then closed (no re-chunking).
//   - HTTP/1.0 clients are kept alive only when they ask ("Connection: keep-alive", answered
//     in kind). A chunked response is de-chunked for them, and the connection then closed.
//   - HEAD, 1xx, 204 and 304 responses have no body.
//
// # Upstream connections and errors
//
// A Pool keeps idle connections to one endpoint, most recently used first. A connection goes
// back after a complete exchange when both sides keep it alive. A request that fails on a
// reused connection before any response byte arrives (the upstream had closed it) is sent once
// more on a new connection, when its body can be sent again. A failed connect is answered 503,
// an upstream failure before the response 502, Decision.Timeout running out 504; once part of
// a response has reached the client, a failure closes the client connection. Local answers
// have a short plain-text body and keep the connection when the request body could be read
// off it.
package http1
