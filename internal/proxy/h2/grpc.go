package h2

import (
	"net/http"
	"strconv"
	"strings"
)

// gRPC status codes used by the proxy's own answers.
const (
	grpcInternal         = 13
	grpcUnavailable      = 14
	grpcUnimplemented    = 12
	grpcUnauthenticated  = 16
	grpcPermissionDenied = 7
	grpcUnknown          = 2
)

// isGRPC reports whether r is a gRPC request (content-type application/grpc, +proto, ...).
func isGRPC(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/grpc") {
		return false
	}
	rest := ct[len("application/grpc"):]
	return rest == "" || rest[0] == '+' || rest[0] == ';'
}

// grpcCodeOf maps the HTTP status of a local answer to a gRPC code, as gRPC's own HTTP
// mapping does.
func grpcCodeOf(status int) int {
	switch status {
	case http.StatusBadRequest:
		return grpcInternal
	case http.StatusUnauthorized:
		return grpcUnauthenticated
	case http.StatusForbidden:
		return grpcPermissionDenied
	case http.StatusNotFound:
		return grpcUnimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return grpcUnavailable
	}
	return grpcUnknown
}

// writeGRPCStatus answers with a trailers-only gRPC response: HTTP 200 whose only header block
// carries grpc-status and grpc-message. Nothing must have been written before.
func writeGRPCStatus(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(code))
	h.Set("Grpc-Message", encodeGRPCMessage(msg))
	w.WriteHeader(http.StatusOK)
}

// encodeGRPCMessage percent-encodes msg as the gRPC over HTTP/2 spec asks for grpc-message.
func encodeGRPCMessage(msg string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
