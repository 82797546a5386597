package http1

import "bytes"

// request is a parsed request head. All slices point into the head.
type request struct {
	head   []byte
	method []byte
	target []byte
	path   []byte
	host   []byte
	minor  byte // HTTP/1.minor: 0 or 1

	fields   []field
	connVals [][]byte // values of the Connection fields

	contentLength int64 // -1 when absent
	chunked       bool
	hasHost       bool
	closeAfter    bool // the client wants the connection closed after the response
	expect100     bool // Expect: 100-continue (HTTP/1.1 only)
	upgrade       bool // an Upgrade the proxy tunnels (Upgrade listed in Connection, HTTP/1.1)
	teTrailers    bool // TE lists "trailers"
	verbatim      bool // the head can go upstream verbatim: no hop-by-hop fields, HTTP/1.1
}

var slash = []byte("/")

// hasBody reports whether a body follows the head.
func (r *request) hasBody() bool { return r.chunked || r.contentLength > 0 }

// reset clears r for the next parse, keeping the capacity of its slices.
func (r *request) reset() {
	fields, conn := r.fields[:0], r.connVals[:0]
	*r = request{fields: fields, connVals: conn, contentLength: -1}
}

// parse parses a request head: the request line, header fields and the empty line, with CRLF
// line ends. It rejects everything that could be read two ways by two HTTP implementations.
func (r *request) parse(head []byte) error {
	r.reset()
	r.head = head
	eol := indexCRLF(head)
	if eol < 0 {
		return errMalformed
	}
	if err := r.parseRequestLine(head[:eol]); err != nil {
		return err
	}
	var err error
	var rest []byte
	r.fields, rest, err = parseFields(r.fields, head[eol+2:])
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errMalformed
	}
	return r.interpretFields()
}

func (r *request) parseRequestLine(line []byte) error {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return errMalformed
	}
	r.method = line[:sp]
	if !isToken(r.method) {
		return errBadMethod
	}
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return errMalformed
	}
	r.target = line[:sp]
	switch v := line[sp+1:]; string(v) {
	case "HTTP/1.1":
		r.minor = 1
	case "HTTP/1.0":
		r.minor = 0
	default:
		return errBadVersion
	}
	if !allIn(r.target, cTarget) {
		return errBadTarget
	}
	if string(r.method) == "CONNECT" {
		return errConnect
	}
	switch {
	case r.target[0] == '/':
		r.path = r.target
		if q := bytes.IndexByte(r.path, '?'); q >= 0 {
			r.path = r.path[:q]
		}
	case len(r.target) == 1 && r.target[0] == '*':
		if string(r.method) != "OPTIONS" {
			return errBadTarget
		}
		r.path = r.target
	default:
		return r.parseAbsolute()
	}
	return nil
}

// parseAbsolute parses an absolute-form target ("http://authority/path?query"). Its authority
// takes the place of the Host field (RFC 9112 3.2.2).
func (r *request) parseAbsolute() error {
	t := r.target
	switch {
	case hasPrefixFold(t, "http://"):
		t = t[len("http://"):]
	case hasPrefixFold(t, "https://"):
		t = t[len("https://"):]
	default:
		return errBadTarget
	}
	end := len(t)
	if i := bytes.IndexAny(t, "/?"); i >= 0 {
		end = i
	}
	authority := t[:end]
	if len(authority) == 0 || !allIn(authority, cHost) || bytes.IndexByte(authority, '@') >= 0 {
		return errBadTarget
	}
	r.host = authority
	t = t[end:]
	if q := bytes.IndexByte(t, '?'); q >= 0 {
		t = t[:q]
	}
	if len(t) == 0 {
		t = slash
	}
	r.path = t
	return nil
}

// interpretFields checks the fields that frame the message or concern the connection.
func (r *request) interpretFields() error {
	hosts, tes := 0, 0
	var upgradeField bool
	var connClose, connKeepAlive, connUpgrade bool
	verbatim := r.minor == 1
	for i := range r.fields {
		f := &r.fields[i]
		switch f.kind {
		case hHost:
			hosts++
			if hosts > 1 {
				return errDupHost
			}
			if !allIn(f.value, cHost) || bytes.IndexByte(f.value, '@') >= 0 {
				return errBadHost
			}
			r.hasHost = true
			if r.host == nil { // an absolute-form target's authority wins
				r.host = f.value
			}
		case hContentLength:
			if r.contentLength >= 0 {
				return errDupCL
			}
			n, ok := parseContentLength(f.value)
			if !ok {
				return errBadCL
			}
			r.contentLength = n
		case hTransferEncoding:
			tes++
			if tes > 1 || !equalFold(f.value, "chunked") {
				return errBadTE
			}
			r.chunked = true
		case hConnection:
			verbatim = false
			r.connVals = append(r.connVals, f.value)
			for list := f.value; len(list) > 0; {
				var opt []byte
				opt, list = nextListElem(list)
				if len(opt) == 0 {
					continue
				}
				if !isToken(opt) {
					return errBadConnection
				}
				switch {
				case equalFold(opt, "close"):
					connClose = true
				case equalFold(opt, "keep-alive"):
					connKeepAlive = true
				case equalFold(opt, "upgrade"):
					connUpgrade = true
				default:
					// A client must not make the proxy drop the fields that frame the message.
					switch headerKind(opt) {
					case hHost, hContentLength, hTransferEncoding:
						return errBadConnection
					}
				}
			}
		case hKeepAlive, hProxyConnection:
			verbatim = false
		case hTE:
			verbatim = false
			if listHas(f.value, "trailers") {
				r.teTrailers = true
			}
		case hUpgrade:
			verbatim = false
			upgradeField = true
		case hExpect:
			if r.minor == 0 {
				continue // RFC 9110 10.1.1: ignored in HTTP/1.0
			}
			if !equalFold(f.value, "100-continue") {
				return errExpectation
			}
			r.expect100 = true
		}
	}
	if r.chunked {
		if r.contentLength >= 0 {
			return errCLAndTE
		}
		if r.minor == 0 {
			return errTE10
		}
	}
	if r.minor == 1 && !r.hasHost {
		return errNoHost
	}
	r.upgrade = upgradeField && connUpgrade && r.minor == 1
	if r.minor == 1 {
		r.closeAfter = connClose
	} else {
		r.closeAfter = !connKeepAlive || connClose
	}
	r.verbatim = verbatim
	return nil
}

// header returns the first value of the field called name (any case).
func (r *request) header(name string) ([]byte, bool) {
	for i := range r.fields {
		if equalFold(r.fields[i].name, name) {
			return r.fields[i].value, true
		}
	}
	return nil, false
}
