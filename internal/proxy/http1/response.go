package http1

import "bytes"

// bodyKind is how a response body is delimited.
type bodyKind uint8

const (
	bodyNone    bodyKind = iota // no body (HEAD, 1xx, 204, 304, Content-Length: 0)
	bodyLength                  // Content-Length
	bodyChunked                 // chunked as the final transfer coding
	bodyClose                   // read until the upstream closes the connection
)

// response is a parsed response head. All slices point into the head.
type response struct {
	head   []byte
	status int
	minor  byte
	reason []byte

	fields   []field
	connVals [][]byte

	contentLength int64 // -1 when absent
	te            bool  // a Transfer-Encoding field is present
	chunked       bool  // chunked is the final transfer coding
	closeAfter    bool  // the upstream closes the connection after this response
	verbatim      bool  // no hop-by-hop fields and HTTP/1.1: the head can go downstream as is
}

func (p *response) reset() {
	fields, conn := p.fields[:0], p.connVals[:0]
	*p = response{fields: fields, connVals: conn, contentLength: -1}
}

// parse parses a response head. The errors it returns carry status 400, meant for a client:
// the caller answers 502 for a malformed response.
func (p *response) parse(head []byte) error {
	p.reset()
	p.head = head
	eol := indexCRLF(head)
	if eol < 0 {
		return errMalformed
	}
	if err := p.parseStatusLine(head[:eol]); err != nil {
		return err
	}
	var err error
	var rest []byte
	p.fields, rest, err = parseFields(p.fields, head[eol+2:])
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errMalformed
	}
	return p.interpretFields()
}

func (p *response) parseStatusLine(line []byte) error {
	// HTTP-version SP 3DIGIT SP [reason]; the second SP is often left out with no reason.
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return errBadStatus
	}
	switch line[7] {
	case '0':
		p.minor = 0
	case '1':
		p.minor = 1
	default:
		return errBadVersion
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errBadStatus
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return errBadStatus
	}
	p.status = code
	switch {
	case len(line) == 12:
		p.reason = line[12:]
	case line[12] == ' ':
		p.reason = line[13:]
		if !allIn(p.reason, cValue) {
			return errBadStatus
		}
	default:
		return errBadStatus
	}
	return nil
}

func (p *response) interpretFields() error {
	verbatim := p.minor == 1
	var connClose, connKeepAlive bool
	for i := range p.fields {
		f := &p.fields[i]
		switch f.kind {
		case hContentLength:
			if p.contentLength >= 0 {
				return errDupCL
			}
			n, ok := parseContentLength(f.value)
			if !ok {
				return errBadCL
			}
			p.contentLength = n
		case hTransferEncoding:
			// Codings in order; chunked must be the last one and appear once (RFC 9112 6.1).
			for list := f.value; len(list) > 0; {
				var c []byte
				c, list = nextListElem(list)
				if len(c) == 0 {
					continue
				}
				if p.chunked || !isToken(c) {
					return errBadTE
				}
				p.te = true
				if equalFold(c, "chunked") {
					p.chunked = true
				}
			}
		case hConnection:
			verbatim = false
			p.connVals = append(p.connVals, f.value)
			for list := f.value; len(list) > 0; {
				var opt []byte
				opt, list = nextListElem(list)
				switch {
				case len(opt) == 0:
				case !isToken(opt):
					return errBadConnection
				case equalFold(opt, "close"):
					connClose = true
				case equalFold(opt, "keep-alive"):
					connKeepAlive = true
				default:
					switch headerKind(opt) {
					case hContentLength, hTransferEncoding:
						return errBadConnection
					}
				}
			}
		case hKeepAlive, hProxyConnection, hTE, hUpgrade:
			verbatim = false
		}
	}
	if p.te && p.contentLength >= 0 {
		return errCLAndTE
	}
	if p.te && p.minor == 0 {
		return errTE10
	}
	if p.minor == 1 {
		p.closeAfter = connClose
	} else {
		p.closeAfter = !connKeepAlive || connClose
	}
	p.verbatim = verbatim
	return nil
}

// bodyKind tells how the body of this response is delimited, for a request of the given
// method (RFC 9112 6.3).
func (p *response) bodyKind(head bool) bodyKind {
	switch {
	case head, p.status < 200, p.status == 204, p.status == 304:
		return bodyNone
	case p.chunked:
		return bodyChunked
	case p.te:
		return bodyClose
	case p.contentLength == 0:
		return bodyNone
	case p.contentLength > 0:
		return bodyLength
	default:
		return bodyClose
	}
}
