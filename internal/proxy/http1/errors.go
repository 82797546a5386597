package http1

import "errors"

// ProtocolError is a malformed or refused HTTP/1 message. Status is what the proxy answers
// downstream when the message came from the client (400, 417, 431, 501); a malformed response
// from an upstream is answered with 502 whatever Status says.
type ProtocolError struct {
	Msg    string
	Status int
}

func (e *ProtocolError) Error() string { return e.Msg }

// The parse errors are values, so that rejecting a message allocates nothing.
var (
	errMalformed       = &ProtocolError{"http1: malformed message head", 400}
	errBareLF          = &ProtocolError{"http1: line ends in a bare LF", 400}
	errHeadTooLarge    = &ProtocolError{"http1: message head too large", 431}
	errObsFold         = &ProtocolError{"http1: obsolete line folding", 400}
	errBadFieldName    = &ProtocolError{"http1: invalid header field name", 400}
	errBadFieldValue   = &ProtocolError{"http1: invalid header field value", 400}
	errBadMethod       = &ProtocolError{"http1: invalid method", 400}
	errBadTarget       = &ProtocolError{"http1: invalid request-target", 400}
	errBadVersion      = &ProtocolError{"http1: unsupported HTTP version", 400}
	errBadStatus       = &ProtocolError{"http1: invalid status line", 400}
	errCLAndTE         = &ProtocolError{"http1: both Content-Length and Transfer-Encoding", 400}
	errDupCL           = &ProtocolError{"http1: more than one Content-Length", 400}
	errBadCL           = &ProtocolError{"http1: invalid Content-Length", 400}
	errBadTE           = &ProtocolError{"http1: unsupported Transfer-Encoding", 400}
	errTE10            = &ProtocolError{"http1: Transfer-Encoding in an HTTP/1.0 message", 400}
	errNoHost          = &ProtocolError{"http1: missing Host", 400}
	errDupHost         = &ProtocolError{"http1: more than one Host", 400}
	errBadHost         = &ProtocolError{"http1: invalid Host", 400}
	errBadConnection   = &ProtocolError{"http1: invalid Connection option", 400}
	errConnect         = &ProtocolError{"http1: CONNECT is not supported", 501}
	errExpectation     = &ProtocolError{"http1: unsupported expectation", 417}
	errBadChunkSize    = &ProtocolError{"http1: invalid chunk size", 400}
	errBadChunkExt     = &ProtocolError{"http1: invalid chunk extension", 400}
	errChunkLineLong   = &ProtocolError{"http1: chunk size line too long", 400}
	errBadChunkEnd     = &ProtocolError{"http1: chunk data not followed by CRLF", 400}
	errTrailersTooLong = &ProtocolError{"http1: trailer section too large", 400}
)

// statusOf returns the status a client-side protocol error is answered with.
func statusOf(err error) int {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Status
	}
	return 400
}

// isProtocolError reports whether err is a malformed-message error (as opposed to I/O).
func isProtocolError(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}
