package http1

import (
	"context"
	"time"
)

// continueWait is how long the proxy waits for an upstream's answer to "Expect: 100-continue"
// before it sends the body anyway, as a client would (RFC 9110 10.1.1).
const continueWait = time.Second

// outcome is the end of one exchange with an upstream.
type outcome struct {
	status int  // sent downstream (0: the client went away)
	keep   bool // the downstream connection stays open
	retry  bool // failed before any response byte on a reused connection; nothing sent downstream
}

// forward sends the current request to d.Pool and relays the response. A request that fails
// on a reused connection before any response byte arrived is sent once more on a new
// connection when its body can be sent again: none, all of it still in the read buffer, or
// none of it read yet (an "Expect: 100-continue" request the upstream never answered).
func (sc *serverConn) forward(d Decision, start time.Time) (int, bool) {
	req := &sc.req.req
	var deadline time.Time
	if d.Timeout > 0 {
		deadline = start.Add(d.Timeout)
	}
	sc.replayable = !req.hasBody() ||
		(!req.chunked && int64(sc.rd.buffered()) >= req.contentLength)
	mark := sc.rd.r
	fresh := false
	for {
		uc, err := sc.acquire(d.Pool, deadline, fresh)
		if err != nil {
			sc.debug("no upstream connection", "remote", sc.c.RemoteAddr(), "error", err)
			return sc.local(503, false)
		}
		out := sc.exchange(uc, d.Pool, deadline, uc.reused && !fresh)
		if !out.retry {
			return out.status, out.keep
		}
		// The body, if any, is still in the buffer (or not read at all): rewind to it.
		sc.rd.r = mark
		sc.bodyDone, sc.bodyStarted = !req.hasBody(), false
		fresh = true
	}
}

// acquire takes an idle connection of p, or dials a new one (always, when fresh is set).
func (sc *serverConn) acquire(p *Pool, deadline time.Time, fresh bool) (*upstreamConn, error) {
	if !fresh {
		uc, err := p.take()
		if err != nil || uc != nil {
			return uc, err
		}
	}
	// The dial outlives a drain (an in-flight request finishes), not the request's timeout.
	ctx := context.WithoutCancel(sc.ctx)
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return p.dialNew(ctx)
}

// exchange sends the request on uc and relays the response. It owns uc: uc goes back to the
// pool or is closed. canRetry tells whether uc is a reused connection that may be stale.
func (sc *serverConn) exchange(uc *upstreamConn, p *Pool, deadline time.Time, canRetry bool) outcome {
	req := &sc.req.req
	if !deadline.IsZero() {
		_ = uc.c.SetDeadline(deadline)
	}
	sc.uw.Reset(uc.c)
	writeRequestHead(sc.uw, req)

	early := false // the final response came before the body was sent
	if req.expect100 && !sc.bodyDone {
		if err := sc.uw.Flush(); err != nil {
			return sc.upstreamFailed(uc, p, err, canRetry)
		}
		final, err := sc.awaitContinue(uc, deadline)
		if err != nil {
			return sc.upstreamFailed(uc, p, err, canRetry)
		}
		early = final
	}
	if !early {
		rerr, werr := sc.sendBody(deadline)
		if rerr == nil && werr == nil {
			werr = sc.uw.Flush()
		}
		switch {
		case rerr != nil:
			return sc.clientBodyFailed(uc, p, rerr, deadline)
		case werr != nil && canRetry && uc.rd.w == 0 && sc.replayable:
			return sc.upstreamFailed(uc, p, werr, true)
		case werr != nil:
			// The upstream may have answered early and closed (413, 401...): relay that
			// answer if there is one.
			sc.debug("sending request to upstream", "remote", sc.c.RemoteAddr(), "error", werr)
		}
		if err := sc.readFinalHead(uc); err != nil {
			return sc.upstreamFailed(uc, p, err, canRetry)
		}
	}
	return sc.relay(uc, p, deadline, early)
}

// sendBody forwards the request body upstream (into sc.uw, not flushed). rerr reports a
// failure to read it from the client (a malformed chunked body included), werr a failure to
// write it upstream.
func (sc *serverConn) sendBody(deadline time.Time) (rerr, werr error) {
	if sc.bodyDone {
		return nil, nil
	}
	req := &sc.req.req
	sc.bodyStarted = true
	sc.rd.setInactivity(sc.c, sc.idleTimeout, deadline)
	sc.rd.flushFirst = sc.uw
	if req.chunked {
		rerr, werr = copyChunked(sc.uw, &sc.rd, rechunk, &sc.scratch, sc.maxHead)
	} else {
		_, rerr, werr = sc.rd.copyN(sc.uw, req.contentLength, &sc.scratch)
	}
	sc.rd.flushFirst = nil
	sc.rd.setInactivity(nil, 0, time.Time{})
	sc.bodyDone = rerr == nil && werr == nil
	return rerr, werr
}

// awaitContinue waits (at most continueWait) for the upstream's answer to an
// "Expect: 100-continue" request, relaying interim responses. It reports whether a final
// response arrived instead (its head is then in sc.resp).
func (sc *serverConn) awaitContinue(uc *upstreamConn, deadline time.Time) (final bool, err error) {
	wait := time.Now().Add(continueWait)
	if !deadline.IsZero() && deadline.Before(wait) {
		wait = deadline
	}
	_ = uc.c.SetReadDeadline(wait)
	defer func() { _ = uc.c.SetReadDeadline(deadline) }()
	for {
		if err := sc.readResponseHead(uc); err != nil {
			if isTimeout(err) && (deadline.IsZero() || time.Now().Before(deadline)) {
				return false, nil // no word from the upstream: send the body
			}
			return false, err
		}
		if sc.resp.status >= 200 || sc.resp.status == 101 {
			return true, nil
		}
		if err := sc.relayInterim(); err != nil {
			return false, err
		}
		if sc.resp.status == 100 {
			return false, nil
		}
	}
}

// readFinalHead reads the response head, relaying interim (1xx) responses to the client.
func (sc *serverConn) readFinalHead(uc *upstreamConn) error {
	for {
		if err := sc.readResponseHead(uc); err != nil {
			return err
		}
		if sc.resp.status >= 200 || sc.resp.status == 101 {
			return nil
		}
		if err := sc.relayInterim(); err != nil {
			return err
		}
	}
}

// readResponseHead reads and parses one response head from uc into sc.resp.
func (sc *serverConn) readResponseHead(uc *upstreamConn) error {
	n, err := uc.rd.readBlock(sc.maxHead, true, false)
	if err != nil {
		return err
	}
	if err := sc.resp.parse(uc.rd.buf[uc.rd.r : uc.rd.r+n]); err != nil {
		return err
	}
	uc.rd.consume(n) // the head stays in place until the next read from uc
	return nil
}

// relayInterim sends an interim response to an HTTP/1.1 client (an HTTP/1.0 client does not
// know them, RFC 9110 15.2).
func (sc *serverConn) relayInterim() error {
	if sc.req.req.minor == 0 {
		return nil
	}
	writeResponseHead(sc.w, &sc.resp, connNone, false)
	if err := sc.w.Flush(); err != nil {
		return &downstreamError{err}
	}
	return nil
}

// downstreamError is a failure to write to the client, met while reading from the upstream.
type downstreamError struct{ err error }

func (e *downstreamError) Error() string { return "writing to client: " + e.err.Error() }
func (e *downstreamError) Unwrap() error { return e.err }

// upstreamFailed ends an exchange that failed before the final response head was relayed:
// 504 on a timeout, a retry when allowed and nothing was received, else 502.
func (sc *serverConn) upstreamFailed(uc *upstreamConn, p *Pool, err error, canRetry bool) outcome {
	p.put(uc, false)
	if _, ok := err.(*downstreamError); ok {
		return outcome{}
	}
	if canRetry && uc.rd.w == 0 && !isTimeout(err) && (sc.replayable || !sc.bodyStarted) {
		sc.debug("retrying on a new upstream connection", "remote", sc.c.RemoteAddr(), "error", err)
		return outcome{retry: true}
	}
	status := 502
	if isTimeout(err) {
		status = 504
	}
	sc.debug("upstream failed", "remote", sc.c.RemoteAddr(), "status", status, "error", err)
	s, keep := sc.local(status, false)
	return outcome{status: s, keep: keep}
}

// clientBodyFailed ends an exchange whose request body could not be read from the client.
func (sc *serverConn) clientBodyFailed(uc *upstreamConn, p *Pool, err error, deadline time.Time) outcome {
	p.put(uc, false)
	switch {
	case isProtocolError(err):
		s, _ := sc.local(statusOf(err), true)
		return outcome{status: s}
	case isTimeout(err) && !deadline.IsZero() && !time.Now().Before(deadline):
		s, _ := sc.local(504, true)
		return outcome{status: s}
	}
	sc.debug("reading request body", "remote", sc.c.RemoteAddr(), "error", err)
	return outcome{}
}

// relay sends the final response (its head is in sc.resp) downstream and gives uc back.
func (sc *serverConn) relay(uc *upstreamConn, p *Pool, deadline time.Time, early bool) outcome {
	req, resp := &sc.req.req, &sc.resp
	if resp.status == 101 {
		if !req.upgrade {
			return sc.upstreamFailed(uc, p, errBadStatus, false)
		}
		return sc.tunnel(uc)
	}
	kind := resp.bodyKind(string(req.method) == "HEAD")
	dechunked := kind == bodyChunked && req.minor == 0
	closeDown := req.closeAfter || !sc.bodyDone || kind == bodyClose || dechunked || sc.isDraining()
	conn := connNone
	switch {
	case closeDown:
		conn = connClose
	case req.minor == 0:
		conn = connKeepAlive
	}
	sentBefore := sc.dw.written
	writeResponseHead(sc.w, resp, conn, dechunked)
	status := resp.status
	var rerr, werr error
	uc.rd.flushFirst = sc.w
	switch kind {
	case bodyLength:
		_, rerr, werr = uc.rd.copyN(sc.w, resp.contentLength, &sc.scratch)
	case bodyChunked:
		mode := rechunk
		if dechunked {
			mode = dechunk
		}
		rerr, werr = copyChunked(sc.w, &uc.rd, mode, &sc.scratch, sc.maxHead)
	case bodyClose:
		_, rerr, werr = uc.rd.copyN(sc.w, -1, &sc.scratch)
	}
	uc.rd.flushFirst = nil
	if rerr != nil {
		sc.debug("reading response body", "remote", sc.c.RemoteAddr(), "error", rerr)
		p.put(uc, false)
		if sc.dw.written == sentBefore {
			// Nothing reached the client yet: drop what is buffered and answer 502.
			sc.w.Reset(&sc.dw)
			s, keep := sc.local(502, false)
			return outcome{status: s, keep: keep}
		}
		// Part of the response is downstream already: all the proxy can do is close.
		return outcome{status: status}
	}
	// The response has been read in full unless writing it downstream failed.
	reusable := werr == nil && !resp.closeAfter && kind != bodyClose && sc.bodyDone && !early
	if werr == nil {
		werr = sc.w.Flush()
	}
	if reusable && !deadline.IsZero() {
		reusable = uc.c.SetDeadline(time.Time{}) == nil
	}
	p.put(uc, reusable)
	if werr != nil {
		sc.debug("writing response", "remote", sc.c.RemoteAddr(), "error", werr)
		return outcome{}
	}
	return outcome{status: status, keep: !closeDown}
}
