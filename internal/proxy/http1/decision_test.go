package http1

import "testing"

// A Decision's Target replaces the request-target sent upstream; the rest of the head is kept.
func TestDecisionTargetRewritesTheRequestTarget(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	up, heads := headRecorder(t, answer)
	pool := NewPool(tcpDialer(up.addr), 4)
	target := []byte("/admin/x?q=1")
	proxy := startProxy(t, &Server{Route: func(r *Request) Decision {
		if string(r.Path()) == "/keep" {
			return Decision{Pool: pool}
		}
		return Decision{Pool: pool, Target: target}
	}})
	cl := dialProxy(t, proxy.addr)
	cl.send("GET //admin/./x?q=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n")
	if got, want := <-heads, "GET /admin/x?q=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n"; got != want {
		t.Errorf("upstream got\n%q\nwant\n%q", got, want)
	}
	if resp, body := cl.response("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
	// Without a Target the head goes verbatim, on the same connection.
	cl.send("GET /keep HTTP/1.1\r\nhost: h\r\n\r\n")
	if got, want := <-heads, "GET /keep HTTP/1.1\r\nhost: h\r\n\r\n"; got != want {
		t.Errorf("upstream got\n%q\nwant\n%q", got, want)
	}
	cl.response("GET")
}

// A Decision's Body is the text of a local answer; the reason phrase stays the status's.
func TestDecisionBodyOfLocalAnswer(t *testing.T) {
	proxy := startProxy(t, &Server{Route: func(r *Request) Decision {
		return Decision{Status: 403, Body: "access denied by authorization policy"}
	}})
	cl := dialProxy(t, proxy.addr)
	cl.send("GET /admin HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := cl.response("GET")
	if resp.StatusCode != 403 || resp.Status != "403 Forbidden" || body != "access denied by authorization policy\n" || resp.Close {
		t.Errorf("got %q %q (close %v), want 403 Forbidden with the body, kept alive", resp.Status, body, resp.Close)
	}
	cl.send("HEAD /admin HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := cl.response("HEAD"); body != "" || resp.ContentLength != int64(len("access denied by authorization policy\n")) {
		t.Errorf("HEAD: body %q length %d", body, resp.ContentLength)
	}
}
