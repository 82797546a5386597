package http1

import "bytes"

// Character classes and header helpers shared by the request and response parsers. Everything
// here works on byte slices in place and allocates nothing.

// Character class bits.
const (
	cToken  = 1 << iota // tchar (RFC 9110 5.6.2)
	cValue              // field-vchar, SP, HTAB, obs-text (RFC 9110 5.5)
	cTarget             // allowed in a request-target: visible ASCII except '#'
	cHost               // allowed in a Host value: reg-name, IP-literal and port characters
)

var charClass = func() [256]uint8 {
	var t [256]uint8
	for c := 0; c < 256; c++ {
		if c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f) {
			t[c] |= cValue
		}
		if c > 0x20 && c < 0x7f && c != '#' {
			t[c] |= cTarget
		}
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] |= cToken
	}
	for _, c := range []byte("-._~!$&'()*+,;=%:[]") {
		t[c] |= cHost
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= cToken | cHost
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cToken | cHost
		t[c-'a'+'A'] |= cToken | cHost
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if charClass[c]&cToken == 0 {
			return false
		}
	}
	return true
}

func allIn(b []byte, class uint8) bool {
	for _, c := range b {
		if charClass[c]&class == 0 {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals s, ignoring ASCII case.
func equalFold[S string | []byte](b []byte, s S) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether b starts with s, ignoring ASCII case.
func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// nextListElem splits the first element off a comma-separated list (RFC 9110 5.6.1) and returns
// it trimmed of whitespace, with the rest of the list. Empty elements are returned as empty.
func nextListElem(list []byte) (elem, rest []byte) {
	for i, c := range list {
		if c == ',' {
			return trimOWS(list[:i]), list[i+1:]
		}
	}
	return trimOWS(list), nil
}

// listHas reports whether the comma-separated list contains token, ignoring case.
func listHas[S string | []byte](list []byte, token S) bool {
	for len(list) > 0 {
		var e []byte
		e, list = nextListElem(list)
		if equalFold(e, token) {
			return true
		}
	}
	return false
}

// connListed reports whether name is listed as an option in one of the values of a message's
// Connection fields: such fields are hop-by-hop and are not forwarded.
func connListed(connVals [][]byte, name []byte) bool {
	for _, v := range connVals {
		if listHas(v, name) {
			return true
		}
	}
	return false
}

// Header kinds the proxy looks at. Every other field is hOther and forwarded untouched.
const (
	hOther uint8 = iota
	hHost
	hContentLength
	hTransferEncoding
	hConnection
	hKeepAlive
	hProxyConnection
	hTE
	hUpgrade
	hExpect
)

// headerKind classifies a field name without allocating.
func headerKind(name []byte) uint8 {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return hTE
		}
	case 4:
		if equalFold(name, "host") {
			return hHost
		}
	case 6:
		if equalFold(name, "expect") {
			return hExpect
		}
	case 7:
		if equalFold(name, "upgrade") {
			return hUpgrade
		}
	case 10:
		if equalFold(name, "connection") {
			return hConnection
		}
		if equalFold(name, "keep-alive") {
			return hKeepAlive
		}
	case 14:
		if equalFold(name, "content-length") {
			return hContentLength
		}
	case 16:
		if equalFold(name, "proxy-connection") {
			return hProxyConnection
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return hTransferEncoding
		}
	}
	return hOther
}

// field is one header field of a parsed head; name and value point into the head.
type field struct {
	name, value []byte
	kind        uint8
}

// parseContentLength parses a Content-Length value: 1*DIGIT, nothing else (no sign, no list).
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseFields parses header field lines (each ending in CRLF) up to the empty line that ends
// the block, appending to dst, and returns what follows the empty line. It enforces the field
// syntax; the meaning of fields is left to the caller.
func parseFields(dst []field, block []byte) ([]field, []byte, error) {
	for {
		f, rest, end, err := nextField(block)
		if err != nil || end {
			return dst, rest, err
		}
		dst = append(dst, f)
		block = rest
	}
}

// checkFields validates a block of field lines like parseFields, keeping nothing.
func checkFields(block []byte) error {
	for {
		_, rest, end, err := nextField(block)
		if err != nil {
			return err
		}
		if end {
			if len(rest) != 0 {
				return errMalformed
			}
			return nil
		}
		block = rest
	}
}

// nextField parses the first line of block: a field, or the empty line ending the block (end).
func nextField(block []byte) (f field, rest []byte, end bool, err error) {
	eol := indexCRLF(block)
	if eol < 0 {
		return f, block, false, errMalformed
	}
	line := block[:eol]
	rest = block[eol+2:]
	if len(line) == 0 {
		return f, rest, true, nil
	}
	if line[0] == ' ' || line[0] == '\t' {
		return f, rest, false, errObsFold
	}
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if charClass[c]&cToken == 0 {
			return f, rest, false, errBadFieldName
		}
	}
	if colon <= 0 {
		return f, rest, false, errBadFieldName
	}
	value := trimOWS(line[colon+1:])
	if !allIn(value, cValue) {
		return f, rest, false, errBadFieldValue
	}
	name := line[:colon]
	return field{name: name, value: value, kind: headerKind(name)}, rest, false, nil
}

// indexCRLF returns the index of the CR of the first line end in b, or -1 when b holds no LF or
// its first LF is bare. A stray CR inside a line is left to the character validators.
func indexCRLF(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return -1
	}
	return i - 1
}
